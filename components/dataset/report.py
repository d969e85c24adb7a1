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
        if kind == "string" and 0 < max(few) <= 50:  # categorical: shares of the top values
            out.append((f"{name} top values", _top_values(plt, name, splits)))
            continue
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


def _top_values(plt: Any, name: str, splits: dict[str, Any]) -> str:
    first = next(iter(splits.values()))["features"].get(name, {})
    values = [v for v, _ in first.get("top", [])[:8]]
    fig, ax = plt.subplots(figsize=(5, 3.6))
    width = 0.8 / max(len(splits), 1)
    for i, (split, s) in enumerate(splits.items()):
        stats = s.get("features", {}).get(name, {})
        present = max(stats.get("count", 0) - stats.get("missing", 0), 1)
        counts = dict(stats.get("top", []))
        ax.barh(
            [j + i * width for j in range(len(values))],
            [counts.get(v, 0) / present for v in values],
            height=width,
            label=split,
        )
    ax.set_yticks([j + 0.4 - width / 2 for j in range(len(values))], [v[:24] for v in values])
    ax.invert_yaxis()
    ax.set(xlabel="share of present values", title=f"{name}: most frequent values")
    ax.legend()
    return html.png(fig)


def render(stats: dict[str, Any], kinds: dict[str, str], drift: dict[str, Any] | None) -> str:
    return html.render(
        "components.dataset",
        "report.html.j2",
        stats=stats,
        kinds=kinds,
        drift=drift,
        plots=plots(stats, kinds),
    )
