"""The dataset's HTML data report: splits, label balance, per-feature statistics, drift."""

from __future__ import annotations

from typing import Any

from components.common import html


def plots(stats: dict[str, Any], kinds: dict[str, str]) -> list[tuple[str, str]]:
    plt = html.pyplot()
    splits = stats["splits"]
    out = []
    fig, ax = plt.subplots(figsize=(5, 3.6))
    labels = sorted({k for s in splits.values() for k in s.get("label_counts", {})})
    bottom = [0.0] * len(splits)
    for label in labels:
        shares = [
            s.get("label_counts", {}).get(label, 0) / max(s["examples"], 1) for s in splits.values()
        ]
        ax.bar(list(splits), shares, bottom=bottom, label=f"label {label}")
        bottom = [b + x for b, x in zip(bottom, shares, strict=True)]
    ax.set(ylabel="share of examples", title="Label balance per split", ylim=(0, 1))
    ax.legend(loc="lower right")
    out.append(("Label balance", html.png(fig)))
    for name, kind in sorted(kinds.items()):
        few = [s.get("features", {}).get(name, {}).get("distinct", 0) for s in splits.values()]
        if kind == "int" and 0 < max(few) <= 10:
            continue  # a few values (e.g. the label): the tables show them better than a curve
        fig, ax = plt.subplots(figsize=(5, 3.6))
        drawn = False
        for split, s in splits.items():
            q = s.get("features", {}).get(name, {}).get("quantiles") or []
            if len(q) > 1:
                ax.plot([i / (len(q) - 1) for i in range(len(q))], q, marker=".", label=split)
                drawn = True
        if not drawn:
            plt.close(fig)
            continue
        what = "length (characters)" if kind == "string" else "value"
        ax.set(xlabel="quantile", ylabel=what, title=f"{name}: {what} by quantile")
        ax.legend()
        out.append((f"{name} quantiles", html.png(fig)))
    return out


def render(stats: dict[str, Any], kinds: dict[str, str], drift: dict[str, Any] | None) -> str:
    return html.render(
        "components.dataset",
        "report.html.j2",
        stats=stats,
        kinds=kinds,
        drift=drift,
        plots=plots(stats, kinds),
    )
