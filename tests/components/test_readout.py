"""The readout's parts on small hand-made inputs: the Beam join (both join keys), and the
decision's guardrails and sample-ratio check."""

from __future__ import annotations

from typing import Any

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from components.readout.config import ABTestConfig
from components.readout.pipeline import DEAD, JoinOutcomes
from components.readout.stats import (
    CONTINUE,
    ROLLBACK,
    decide,
    latency_histogram,
    min_units_per_arm,
)


def request(rid: str, unit: str, arm: str, epoch: float, status: str = "ok") -> dict[str, Any]:
    return {
        "request_id": rid,
        "unit_id": unit,
        "arm": arm,
        "status": status,
        "epoch": epoch,
        "latency_ms": 1.0,
        "challenger_percent": 50,
    }


REQUESTS = [
    request("r1", "u1", "champion", 1),
    request("r2", "u1", "champion", 2),
    request("r3", "u2", "challenger", 3),
    request("r4", "u2", "challenger", 4, status="error"),
    request("r5", "u3", "champion", 5),
    request("r6", "u3", "challenger", 6),  # a unit seen in both arms
]


def summaries(result: Any) -> Any:
    return result["units"] | beam.Map(lambda u: (u["unit_id"], u["arm"], u["value"], u["errors"]))


def test_join_by_request_id_counts_each_requests_outcomes() -> None:
    outcomes = [
        {"request_id": "r1", "value": 1},
        {"request_id": "r3", "value": 1},
        {"request_id": "r3", "value": 1},  # two events of one request add up
        {"request_id": "r9", "value": 1},  # no such request: dead letter
    ]
    with TestPipeline() as p:
        result = {
            "requests": p | "R" >> beam.Create(REQUESTS),
            "outcomes": p | "O" >> beam.Create(outcomes),
        } | JoinOutcomes("request_id")
        assert_that(
            summaries(result),
            equal_to(
                [
                    ("u1", "champion", 0.5, 0),
                    ("u2", "challenger", 2.0, 1),
                    ("u3", "crossed", 0.0, 0),
                ]
            ),
        )
        reasons = result[DEAD] | beam.Map(lambda d: d["reason"])
        assert_that(
            reasons, equal_to(["no request of this experiment has request_id 'r9'"]), label="dead"
        )


def test_join_by_unit_id_sums_each_units_outcomes() -> None:
    outcomes = [{"unit_id": "u1", "value": 3}, {"unit_id": "u2", "value": 1}]
    with TestPipeline() as p:
        result = {
            "requests": p | "R" >> beam.Create(REQUESTS),
            "outcomes": p | "O" >> beam.Create(outcomes),
        } | JoinOutcomes("unit_id")
        assert_that(
            summaries(result),
            equal_to(
                [
                    ("u1", "champion", 3.0, 0),
                    ("u2", "challenger", 1.0, 1),
                    ("u3", "crossed", 0.0, 0),
                ]
            ),
        )


CFG = ABTestConfig(baseline_rate=0.5, min_detectable_effect=0.2)


def units(n: int, arm: str, value: float = 1.0, percent: float = 50) -> list[dict[str, Any]]:
    return [
        {
            "unit_id": f"{arm}-{i}",
            "arm": arm,
            "first_time": float(i),
            "value": value if i % 2 else 0.0,
            "requests": 1,
            "errors": 0,
            "challenger_percent": percent,
        }
        for i in range(n)
    ]


def latency(champion_ms: float, challenger_ms: float, n: int = 400) -> dict[str, Any]:
    """Latency rows as the readout job writes them, for n requests per arm around a median."""
    rng = np.random.default_rng(0)
    out = {}
    for arm, median in (("champion", champion_ms), ("challenger", challenger_ms)):
        values = median * np.exp(0.2 * rng.standard_normal(n))
        out[arm] = {
            "requests": n,
            "errors": 0,
            "p50_ms": float(np.quantile(values, 0.5)),
            "p99_ms": float(np.quantile(values, 0.99)),
            "max_ms": float(values.max()),
            "histogram": latency_histogram(values),
        }
    return out


def test_before_the_horizon_the_decision_waits() -> None:
    n = min_units_per_arm(CFG) - 1
    result = decide(CFG, units(n, "champion") + units(n, "challenger"), latency(5, 5))
    assert result["decision"] == CONTINUE and "test" not in result and "interim" in result


@pytest.mark.parametrize(
    ("p99", "expected"),
    [
        (150.0, "its p99 is above 100.0 ms (one-sided binomial test"),
        (40.0, "(champion p95 14.4 ms + 10 ms) against 0 of 400 champion requests"),
    ],
)
def test_slow_challenger_is_rolled_back(p99: float, expected: str) -> None:
    result = decide(CFG, units(20, "champion") + units(20, "challenger"), latency(10, p99))
    assert result["decision"] == ROLLBACK and expected in result["reasons"][0]


def test_small_latency_differences_are_not_a_breach() -> None:
    result = decide(CFG, units(20, "champion") + units(20, "challenger"), latency(0.4, 0.9))
    assert result["decision"] == CONTINUE
    assert result["latency_guardrail"]["applied"]


def test_latency_guardrail_waits_for_its_minimum_sample() -> None:
    """Below min_requests per arm even a 10x slower challenger is not judged on latency."""
    few = CFG.guardrails.min_requests - 1
    result = decide(CFG, units(20, "champion") + units(20, "challenger"), latency(5, 50, n=few))
    assert result["decision"] == CONTINUE and not result["latency_guardrail"]["applied"]


def test_sample_ratio_mismatch_rolls_back() -> None:
    # 10% configured, half the units logged as challenger: the assignment or the logs are broken.
    skewed = units(100, "champion", percent=10) + units(100, "challenger", percent=10)
    result = decide(CFG, skewed, latency(5, 5))
    assert result["decision"] == ROLLBACK
    assert result["reasons"][0].startswith("guardrail sample ratio mismatch: 100 challenger units")
    fine = units(180, "champion", percent=10) + units(20, "challenger", percent=10)
    assert decide(CFG, fine, latency(5, 5))["srm"]["p_value"] > 0.5
