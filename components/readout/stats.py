"""The readout's statistics and decision, from per-unit summaries (statsmodels and scipy do the
math): sample size, the test at the horizon, the interval, the guardrails, sample ratio mismatch.

Decisions: `promote` (the challenger is better at the horizon), `rollback` (a guardrail broke,
or it is not better at the horizon), `continue` (no horizon yet, no guardrail broken).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from components.common.artifacts import CONTINUE, PROMOTE, ROLLBACK
from components.readout.config import ABTestConfig

__all__ = ["CONTINUE", "PROMOTE", "ROLLBACK", "decide", "min_units_per_arm"]


def min_units_per_arm(cfg: ABTestConfig) -> int:
    """Units per arm for a one-sided test of the configured lift at alpha with the power asked."""
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    effect = proportion_effectsize(cfg.baseline_rate + cfg.min_detectable_effect, cfg.baseline_rate)
    n = NormalIndPower().solve_power(
        effect_size=effect, alpha=cfg.alpha, power=cfg.power, ratio=1.0, alternative="larger"
    )
    return math.ceil(n)


def _arm_numbers(units: Sequence[dict[str, Any]]) -> dict[str, Any]:
    values = np.array([u["value"] for u in units], dtype=float)
    requests = sum(u["requests"] for u in units)
    errors = sum(u["errors"] for u in units)
    return {
        "units": len(units),
        "requests": requests,
        "errors": errors,
        "error_rate": errors / requests if requests else 0.0,
        "mean": float(values.mean()) if len(values) else None,
    }


def compare(challenger: np.ndarray, champion: np.ndarray, alpha: float) -> dict[str, Any]:
    """Welch's t-test of challenger > champion and the two-sided (1 - 2 alpha) interval of the
    difference of means (the interval matching the one-sided test at alpha)."""
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

    delta = float(challenger.mean() - champion.mean())
    if challenger.var() == 0 and champion.var() == 0:  # e.g. no outcomes at all yet: no spread
        return {
            "delta": delta,
            "ci_low": delta,
            "ci_high": delta,
            "ci_level": 1 - 2 * alpha,
            "p_value": 0.0 if delta > 0 else 1.0,
        }
    cm = CompareMeans(DescrStatsW(challenger), DescrStatsW(champion))
    _, p_value, _ = cm.ttest_ind(alternative="larger", usevar="unequal")
    low, high = cm.tconfint_diff(alpha=2 * alpha, alternative="two-sided", usevar="unequal")
    return {
        "delta": delta,
        "ci_low": float(low),
        "ci_high": float(high),
        "ci_level": 1 - 2 * alpha,
        "p_value": float(p_value),
    }


def guardrails(
    cfg: ABTestConfig, arms: dict[str, dict[str, Any]], latency: dict[str, dict[str, float]]
) -> list[str]:
    """Broken guardrails, each a sentence; empty when all hold."""
    from statsmodels.stats.proportion import proportion_confint

    g = cfg.guardrails
    broken = []
    ch = arms["challenger"]
    if ch["requests"]:
        low, _ = proportion_confint(
            ch["errors"], ch["requests"], alpha=1 - g.confidence, method="wilson"
        )
        if low > g.max_error_rate:
            broken.append(
                f"error rate: the challenger failed {ch['errors']} of {ch['requests']} requests "
                f"({ch['error_rate']:.1%}; {g.confidence:.0%} lower bound {low:.1%} > "
                f"{g.max_error_rate:.1%})"
            )
    ch_lat, cp_lat = latency.get("challenger"), latency.get("champion")
    if ch_lat and ch_lat["requests"] >= g.min_requests:
        p99 = ch_lat["p99_ms"]
        if p99 > g.max_p99_latency_ms:
            broken.append(f"latency: challenger p99 {p99:.1f} ms > {g.max_p99_latency_ms:.1f} ms")
        elif (
            cp_lat
            and cp_lat["requests"] >= g.min_requests
            and p99 > g.max_p99_ratio * cp_lat["p99_ms"]
            and p99 - cp_lat["p99_ms"] > g.p99_slack_ms
        ):
            broken.append(
                f"latency: challenger p99 {p99:.1f} ms > {g.max_p99_ratio} x champion p99 "
                f"{cp_lat['p99_ms']:.1f} ms"
            )
    return broken


def sample_ratio(units: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Chi-square test of the arms' unit counts against the split each unit was assigned under
    (its `challenger_percent` at its first request, so a ramp is accounted for)."""
    from scipy.stats import chisquare

    n = len(units)
    observed = sum(1 for u in units if u["arm"] == "challenger")
    expected = sum(u["challenger_percent"] for u in units) / 100
    if n == 0 or expected <= 0 or expected >= n:
        return {"observed": observed, "expected": expected, "p_value": 1.0}
    _, p = chisquare([observed, n - observed], [expected, n - expected])
    return {"observed": observed, "expected": round(expected, 2), "p_value": float(p)}


def decide(
    cfg: ABTestConfig,
    units: Sequence[dict[str, Any]],
    latency: dict[str, dict[str, float]],
) -> dict[str, Any]:
    """The decision and every number behind it. `units`: unit summaries of the current
    experiment (arm, first_time, value, requests, errors, challenger_percent)."""
    by_arm = {
        arm: sorted(
            (u for u in units if u["arm"] == arm), key=lambda u: (u["first_time"], u["unit_id"])
        )
        for arm in ("champion", "challenger")
    }
    horizon = min_units_per_arm(cfg)
    arms = {arm: _arm_numbers(us) for arm, us in by_arm.items()}
    out: dict[str, Any] = {
        "min_units_per_arm": horizon,
        "arms": arms,
        "latency": latency,
        "alpha": cfg.alpha,
        "power": cfg.power,
        "min_detectable_effect": cfg.min_detectable_effect,
        "srm": sample_ratio(units),
    }
    reasons = guardrails(cfg, arms, latency)
    if out["srm"]["p_value"] < cfg.guardrails.srm_p_value:
        srm = out["srm"]
        reasons.append(
            f"sample ratio mismatch: {srm['observed']} challenger units against {srm['expected']} "
            f"expected (p = {srm['p_value']:.2g}); the assignment or the request log is broken"
        )
    values = {arm: np.array([u["value"] for u in us], dtype=float) for arm, us in by_arm.items()}
    if all(len(v) >= 2 for v in values.values()):
        out["interim"] = compare(values["challenger"], values["champion"], cfg.alpha)
    at_horizon = all(len(v) >= horizon for v in values.values())
    if reasons:
        out.update(decision=ROLLBACK, reasons=["guardrail " + r for r in reasons])
        return out
    if not at_horizon:
        have = min(len(v) for v in values.values())
        out.update(
            decision=CONTINUE,
            reasons=[f"{have} of {horizon} units in the smaller arm; guardrails hold"],
        )
        return out
    # The fixed-horizon test: exactly the first `horizon` units of each arm, once.
    result = compare(values["challenger"][:horizon], values["champion"][:horizon], cfg.alpha)
    out["test"] = result
    summary = (
        f"delta {result['delta']:+.4f} ({result['ci_level']:.0%} CI {result['ci_low']:+.4f} to "
        f"{result['ci_high']:+.4f}), one-sided p = {result['p_value']:.3g} at {horizon} units "
        "per arm"
    )
    if result["p_value"] < cfg.alpha:
        out.update(decision=PROMOTE, reasons=[f"the challenger is better: {summary}"])
    else:
        out.update(decision=ROLLBACK, reasons=[f"the challenger is not better: {summary}"])
    return out
