"""The A/B dashboard: the decision and its numbers, and per-arm plots over time (cumulative
outcome rate, the delta with its interval, units against the horizon, p99 latency, errors)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from components.common import html
from components.readout import stats

COLORS = {"champion": "#4285f4", "challenger": "#ea8600"}


def _time(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


def cumulative(units: list[dict[str, Any]], alpha: float, points: int = 24) -> list[dict[str, Any]]:
    """The readout as it would have looked at `points` moments: per-arm means and the delta's
    interval over the units seen by then (for the plots; the decision uses `stats.decide`)."""
    if not units:
        return []
    times = sorted(u["first_time"] for u in units)
    cuts = sorted(set(np.quantile(times, np.linspace(0, 1, points + 1)[1:]).tolist()))
    out = []
    for cut in cuts:
        seen = {
            arm: np.array([u["value"] for u in units if u["arm"] == arm and u["first_time"] <= cut])
            for arm in ("champion", "challenger")
        }
        row: dict[str, Any] = {"time": cut, **{f"{a}_units": len(v) for a, v in seen.items()}}
        for arm, v in seen.items():
            row[f"{arm}_mean"] = float(v.mean()) if len(v) else None
        if all(len(v) >= 2 for v in seen.values()):
            row.update(stats.compare(seen["challenger"], seen["champion"], alpha))
        out.append(row)
    return out


def plots(
    result: dict[str, Any], curve: list[dict[str, Any]], timeline: list[dict[str, Any]]
) -> list[tuple[str, str]]:
    plt = html.pyplot()
    out = []
    x = [_time(r["time"]) for r in curve]

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for arm in ("champion", "challenger"):
        ax.plot(x, [r[f"{arm}_mean"] for r in curve], label=arm, color=COLORS[arm])
    ax.set(title="outcome rate per arm (cumulative)", ylabel="mean outcome per unit")
    ax.legend()
    fig.autofmt_xdate()
    out.append(("Outcome rate per arm over time", html.png(fig)))

    with_ci = [r for r in curve if "delta" in r]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    if with_ci:
        xs = [_time(r["time"]) for r in with_ci]
        ax.plot(xs, [r["delta"] for r in with_ci], color="#222", label="challenger - champion")
        ax.fill_between(
            xs,
            [r["ci_low"] for r in with_ci],
            [r["ci_high"] for r in with_ci],
            alpha=0.25,
            label=f"{with_ci[-1]['ci_level']:.0%} interval",
        )
    ax.axhline(0, color="grey", lw=0.8, ls="--")
    ax.set(title="delta over time (interim: the decision waits for the horizon)")
    ax.legend()
    fig.autofmt_xdate()
    out.append(("Delta and its interval over time", html.png(fig)))

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for arm in ("champion", "challenger"):
        ax.plot(x, [r[f"{arm}_units"] for r in curve], label=arm, color=COLORS[arm])
    ax.axhline(result["min_units_per_arm"], color="grey", ls="--", lw=0.8, label="horizon")
    ax.set(title="units per arm (cumulative)", ylabel="units")
    ax.legend()
    fig.autofmt_xdate()
    out.append(("Units per arm against the horizon", html.png(fig)))

    for field, title, scale in (("p99_ms", "p99 latency (ms)", 1), ("error_rate", "error rate", 1)):
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        for arm in ("champion", "challenger"):
            rows = sorted((r for r in timeline if r["arm"] == arm), key=lambda r: r["time"])
            ax.plot(
                [_time(r["time"]) for r in rows],
                [r[field] * scale for r in rows],
                marker=".",
                label=arm,
                color=COLORS[arm],
            )
        ax.set(title=f"{title} per time bucket")
        ax.legend()
        fig.autofmt_xdate()
        out.append((title.capitalize() + " per arm over time", html.png(fig)))
    return out


def render(
    result: dict[str, Any], curve: list[dict[str, Any]], timeline: list[dict[str, Any]]
) -> str:
    return html.render(
        "components.readout",
        "dashboard.html.j2",
        r=result,
        plots=plots(result, curve, timeline) if curve else [],
    )
