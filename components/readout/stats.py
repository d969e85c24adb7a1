"""The readout's statistics and decision, from per-unit summaries (statsmodels and scipy do the
math): sample size, the test at the horizon, the interval, the guardrails, sample ratio mismatch.

Decisions: `promote` (the challenger is significantly better at the horizon), `rollback` (a
guardrail broke, or it is not significantly better at the horizon), `continue` (no horizon yet,
no guardrail broken).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
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


# Latency per arm is kept as a histogram on geometric bins (each 5% wider than the last), so the
# Beam job and the in-memory path count exactly how many requests of an arm are slower than any
# threshold (rounded up to a bin edge), and the counts merge across workers.
LATENCY_BASE_MS = 0.01
LATENCY_RATIO = 1.05
LATENCY_BINS = 400  # the last edge is ~3,000 s: anything slower lands in the last bin
# The absolute limit is on the p99: more than this share above `max_p99_latency_ms` breaks it.
SLO_SHARE = 0.01


def latency_bin(ms: float) -> int:
    """The bin of a latency: 0 for <= LATENCY_BASE_MS, i for (edge(i-1), edge(i)]."""
    if not ms > LATENCY_BASE_MS:  # also NaN
        return 0
    return min(
        LATENCY_BINS - 1, math.ceil(math.log(ms / LATENCY_BASE_MS) / math.log(LATENCY_RATIO))
    )


def latency_edge(index: int) -> float:
    """The upper edge (ms) of bin `index`."""
    return LATENCY_BASE_MS * LATENCY_RATIO**index


def latency_histogram(values: Iterable[float]) -> dict[str, int]:
    """Sparse histogram of latencies: bin index (a string, as JSON keys are) -> count."""
    counts: dict[int, int] = {}
    for v in values:
        b = latency_bin(float(v))
        counts[b] = counts.get(b, 0) + 1
    return {str(k): n for k, n in sorted(counts.items())}


def _slower_than(histogram: dict[str, int], index: int) -> int:
    """Requests in bins above `index`, i.e. slower than latency_edge(index)."""
    return sum(n for k, n in histogram.items() if int(k) > index)


def _quantile_bin(histogram: dict[str, int], q: float) -> int:
    """The smallest bin whose upper edge has at most a (1 - q) share of the requests above it."""
    total = sum(histogram.values())
    above = total
    for k in sorted(int(k) for k in histogram):
        above -= histogram[str(k)]
        if above <= (1 - q) * total:
            return k
    return LATENCY_BINS - 1


def latency_guardrail(
    cfg: ABTestConfig, latency: dict[str, dict[str, Any]]
) -> tuple[list[str], dict[str, Any]]:
    """The latency guardrail: (broken rules as sentences, the numbers behind them).

    Applied once each arm has `min_requests`. Two one-sided tests, each rolling back equal
    models with probability at most `latency_alpha` per readout (both together at most twice
    that; `test_guardrail` measures it):
    - absolute: the challenger's share of requests slower than `max_p99_latency_ms` is above
      1% (its p99 is above the limit), an exact binomial test;
    - relative: the challenger's share of "slow" requests exceeds the champion's by more than
      `max_slow_share_increase`, a score test (Farrington-Manning) of the difference. Slow is
      slower than `latency_threshold_ms`, or else than the champion's `latency_quantile` plus
      `latency_slack_ms`. A pause that slows a few requests of one arm moves its share by
      requests / n, within the margin once n >= min_requests; the p99 of a small sample is
      nearly its maximum, which a single pause decides: that is why neither is used.
    """
    import warnings

    from scipy.stats import binomtest
    from statsmodels.stats.proportion import test_proportions_2indep

    g = cfg.guardrails
    ch, cp = latency.get("challenger"), latency.get("champion")
    info: dict[str, Any] = {"alpha": g.latency_alpha, "min_requests": g.min_requests}
    if not ch or not cp or "histogram" not in ch or "histogram" not in cp:
        info["applied"] = False
        return [], info
    n_ch, n_cp = int(ch["requests"]), int(cp["requests"])
    if min(n_ch, n_cp) < g.min_requests:
        info["applied"] = False
        return [], info
    info["applied"] = True
    broken = []
    slo_bin = latency_bin(g.max_p99_latency_ms)
    over = _slower_than(ch["histogram"], slo_bin)
    p_slo = float(binomtest(over, n_ch, SLO_SHARE, alternative="greater").pvalue)
    info["absolute"] = {
        "limit_ms": round(latency_edge(slo_bin), 3),
        "challenger_over": over,
        "challenger_requests": n_ch,
        "p_value": p_slo,
    }
    if p_slo < g.latency_alpha:
        broken.append(
            f"latency: {over} of {n_ch} challenger requests ({over / n_ch:.1%}) took over "
            f"{latency_edge(slo_bin):.1f} ms: its p99 is above {g.max_p99_latency_ms:.1f} ms "
            f"(one-sided binomial test of a share > {SLO_SHARE:.0%}, p = {p_slo:.2g} < "
            f"alpha {g.latency_alpha})"
        )
    if g.latency_threshold_ms is not None:
        threshold = g.latency_threshold_ms
        source = "latency_threshold_ms"
    else:
        base = latency_edge(_quantile_bin(cp["histogram"], g.latency_quantile))
        threshold = base + g.latency_slack_ms
        source = f"champion p{g.latency_quantile * 100:g} {base:.1f} ms + {g.latency_slack_ms:g} ms"
    slow_bin = latency_bin(threshold)
    slow_ch, slow_cp = (
        _slower_than(ch["histogram"], slow_bin),
        _slower_than(cp["histogram"], slow_bin),
    )
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        test = test_proportions_2indep(
            slow_ch,
            n_ch,
            slow_cp,
            n_cp,
            value=g.max_slow_share_increase,
            method="score",
            compare="diff",
            alternative="larger",
        )
    p_rel = float(test.pvalue)
    p_rel = 1.0 if math.isnan(p_rel) else p_rel
    info["relative"] = {
        "threshold_ms": round(latency_edge(slow_bin), 3),
        "threshold_from": source,
        "challenger_slow": slow_ch,
        "champion_slow": slow_cp,
        "margin": g.max_slow_share_increase,
        "p_value": p_rel,
    }
    if p_rel < g.latency_alpha:
        broken.append(
            f"latency: {slow_ch} of {n_ch} challenger requests ({slow_ch / n_ch:.1%}) took over "
            f"{latency_edge(slow_bin):.1f} ms ({source}) against {slow_cp} of {n_cp} "
            f"champion requests ({slow_cp / n_cp:.1%}): more than "
            f"{g.max_slow_share_increase:.0%} more (one-sided score test, p = {p_rel:.2g} < "
            f"alpha {g.latency_alpha})"
        )
    return broken, info


def guardrails(
    cfg: ABTestConfig, arms: dict[str, dict[str, Any]], latency: dict[str, dict[str, Any]]
) -> tuple[list[str], dict[str, Any]]:
    """Broken guardrails, each a sentence (empty when all hold), and the latency test's numbers."""
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
    slow, info = latency_guardrail(cfg, latency)
    return broken + slow, info


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
    latency: dict[str, dict[str, Any]],
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
    reasons, out["latency_guardrail"] = guardrails(cfg, arms, latency)
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
    word, verdict = test_verdict(result, cfg.alpha, horizon)
    out.update(decision=word, reasons=[verdict])
    return out


def test_verdict(result: dict[str, Any], alpha: float, units: int) -> tuple[str, str]:
    """The decision and its sentence for the test at the horizon. Promote when the one-sided p
    is below alpha; otherwise roll back, saying "significantly worse" when the interval lies
    below 0 (the mirror one-sided test rejects at alpha) and "not significantly better" else."""
    p = result["p_value"]
    numbers = (
        f"delta {result['delta']:+.4f} ({result['ci_level']:.0%} CI {result['ci_low']:+.4f} to "
        f"{result['ci_high']:+.4f}), one-sided p = {p:.3g} {'<' if p < alpha else '>='} alpha "
        f"{alpha:g}, at {units} units per arm"
    )
    if p < alpha:
        return PROMOTE, f"the challenger is significantly better: {numbers}"
    if result["ci_high"] < 0:
        return ROLLBACK, f"the challenger is significantly worse: {numbers}"
    return ROLLBACK, f"the challenger is not significantly better: {numbers}"
