"""The monitor's HTML report: the verdict and its reasons, per-version tables, and plots of the
per-feature PSI, its course over the window's time buckets, the text OOV rate, and the training
against the live bins of each feature."""

from __future__ import annotations

import datetime as dt
from typing import Any

from components.common import html

COLORS = ("#4285f4", "#ea8600", "#34a853", "#a142f4", "#ea4335", "#24c1e0", "#9e9d24")


def _time(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


def main_version(result: dict[str, Any]) -> str | None:
    versions = result.get("versions") or {}
    if not versions:
        return None
    if result["champion"] in versions:
        return str(result["champion"])
    return max(versions, key=lambda v: versions[v]["predictions"])


def plots(result: dict[str, Any]) -> list[tuple[str, str]]:
    plt = html.pyplot()
    versions = result["versions"]
    t = result["thresholds"]
    out = []

    names = sorted(result["features"])
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    width = 0.8 / max(len(versions), 1)
    for i, (version, v) in enumerate(sorted(versions.items())):
        ax.bar(
            [k + i * width for k in range(len(names))],
            [v["features"][n].get("psi", 0.0) for n in names],
            width,
            label=version,
            color=COLORS[i % len(COLORS)],
        )
    ax.axhline(t["psi_warn"], color="#fbbc04", ls="--", lw=0.8, label="psi_warn")
    ax.axhline(t["psi_drift"], color="#ea4335", ls="--", lw=0.8, label="psi_drift")
    ax.set_xticks([k + width * (len(versions) - 1) / 2 for k in range(len(names))], names)
    ax.set(title="PSI per feature against the training statistics", ylabel="PSI")
    ax.legend(fontsize=7)
    out.append(("PSI per feature and version", html.png(fig)))

    version = main_version(result)
    assert version is not None
    v = versions[version]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for i, name in enumerate(names):
        rows = v["features"][name]["over_time"]
        ax.plot(
            [_time(r["time"]) for r in rows],
            [r["psi"] for r in rows],
            marker=".",
            label=name,
            color=COLORS[i % len(COLORS)],
        )
    pred = v["prediction_drift"].get("over_time", [])
    if pred:
        ax.plot(
            [_time(r["time"]) for r in pred],
            [r["psi"] for r in pred],
            marker="x",
            ls=":",
            color="#222",
            label="predictions (vs reference)",
        )
    ax.axhline(t["psi_drift"], color="#ea4335", ls="--", lw=0.8, label="psi_drift")
    ax.set(title=f"PSI per time bucket, version {version}", ylabel="PSI")
    ax.legend(fontsize=7)
    fig.autofmt_xdate()
    out.append((f"PSI over the window (version {version})", html.png(fig)))

    texts = [n for n in names if v["features"][n].get("oov")]
    if texts:
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        for i, name in enumerate(texts):
            oov = v["features"][name]["oov"]
            rows = oov.get("over_time", [])
            color = COLORS[i % len(COLORS)]
            ax.plot(
                [_time(r["time"]) for r in rows],
                [r["oov_rate"] for r in rows],
                marker=".",
                label=name,
                color=color,
            )
            if oov.get("baseline_oov_rate") is not None:
                ax.axhline(oov["baseline_oov_rate"], color=color, ls="--", lw=0.8)
        ax.set(title="out-of-vocabulary rate per time bucket (dashed: baseline)", ylabel="share")
        ax.legend(fontsize=7)
        fig.autofmt_xdate()
        out.append((f"Text OOV rate over the window (version {version})", html.png(fig)))

    for name in names:
        f = v["features"][name]
        bins = f["bins"]
        fig, ax = plt.subplots(figsize=(5.5, 3.0))
        x = list(range(len(bins)))
        ax.bar([k - 0.2 for k in x], [b["expected"] for b in bins], 0.4, label="training")
        ax.bar([k + 0.2 for k in x], [b["actual"] for b in bins], 0.4, label="live")
        ax.set_xticks(x, [b["bin"] for b in bins], rotation=60, fontsize=6, ha="right")
        ax.set(title=f"{name}: {f['measure']} bins (PSI {f.get('psi', 0):.3f})", ylabel="share")
        ax.legend(fontsize=7)
        out.append((f"{name}: training against live bins", html.png(fig)))
    return out


def render(result: dict[str, Any]) -> str:
    return html.render(
        "components.monitor",
        "report.html.j2",
        r=result,
        v=result["verdict"],
        plots=plots(result) if result.get("versions") else [],
    )
