"""The latency guardrail (components.readout.stats.latency_guardrail): its false-alarm rate is
what the config states, a load spike in one arm of equal models does not raise it, a truly
slower challenger is rolled back; and the replay records a latency that does not depend on how
busy the machine is. Pure statistics, no TensorFlow: thousands of readouts in seconds."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.stats import binom

from components.common.registry import Registry
from components.readout import stats
from components.readout.config import ABTestConfig, Guardrails
from components.readout.memory import readout_in_memory
from components.serve.replay import SimulatedLatency, Traffic, simulate

SHIPPED = ABTestConfig(baseline_rate=0.5, min_detectable_effect=0.1)  # the default guardrails
TRIALS = 2000


def arm(values: np.ndarray) -> dict[str, Any]:
    """One arm's latency row, as the readout job and the in-memory path write it."""
    return {
        "requests": len(values),
        "errors": 0,
        "p50_ms": float(np.quantile(values, 0.5)),
        "p99_ms": float(np.quantile(values, 0.99)),
        "max_ms": float(values.max()),
        "histogram": stats.latency_histogram(values),
    }


def served(rng: np.random.Generator, n: int, median_ms: float = 3.0) -> np.ndarray:
    """n request latencies of one model: log-normal, a long right tail (sigma 0.5)."""
    return median_ms * np.exp(0.5 * rng.standard_normal(n))


def spike(rng: np.random.Generator, values: np.ndarray, requests: int, extra_ms: float) -> None:
    """A pause of the machine: `requests` consecutive requests, at a random point, take
    `extra_ms` longer (a GC pause, a noisy neighbour, a busy CI runner)."""
    start = int(rng.integers(0, len(values) - requests))
    values[start : start + requests] += extra_ms


def rollbacks(cfg: ABTestConfig, trial: Any, trials: int = TRIALS) -> int:
    broken = 0
    for seed in range(trials):
        champion, challenger = trial(np.random.default_rng(seed))
        reasons, info = stats.latency_guardrail(
            cfg, {"champion": arm(champion), "challenger": arm(challenger)}
        )
        assert info["applied"]
        broken += bool(reasons)
    return broken


def with_guardrails(**kwargs: Any) -> ABTestConfig:
    return SHIPPED.model_copy(update={"guardrails": Guardrails(**kwargs)})


def allowed(alpha: float, trials: int = TRIALS) -> float:
    """The count of false alarms that a rate of at most alpha leaves, at its 99.9% quantile."""
    return float(binom.ppf(0.999, trials, alpha))


@pytest.mark.parametrize("alpha", [0.05, 0.01])
def test_the_relative_test_holds_its_stated_rate(alpha: float) -> None:
    """No margin and a threshold near the median, so the score test itself is at its boundary
    (equal shares): its rate of rolling back equal models is alpha, not more."""
    cfg = with_guardrails(
        latency_alpha=alpha, max_slow_share_increase=0.0, latency_threshold_ms=4.0
    )

    def trial(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        n_champion, n_challenger = rng.integers(200, 1000, size=2)
        return served(rng, n_champion), served(rng, n_challenger)

    count = rollbacks(cfg, trial)
    print(f"relative test at its boundary: {count}/{TRIALS} rollbacks (alpha {alpha})")
    assert count <= allowed(alpha)


@pytest.mark.parametrize(
    ("alpha", "slack_ms"),
    [(SHIPPED.guardrails.latency_alpha, 10.0), (0.05, 10.0), (0.05, 0.0)],
)
def test_a_load_spike_in_one_arm_of_equal_models_does_not_roll_back(
    alpha: float, slack_ms: float
) -> None:
    """Equal models; in every trial one arm's readout has a pause that made 1.5% of its
    requests 250 ms slower, above every threshold (the p99 of 79 requests that once decided a
    rollback is nearly the maximum: one such pause). Rollbacks stay within alpha, also with no
    slack (slow = over the champion's own p95), where only the margin absorbs the pause."""
    cfg = with_guardrails(latency_alpha=alpha, latency_slack_ms=slack_ms)

    def trial(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        n = int(rng.integers(cfg.guardrails.min_requests, 1000))
        champion, challenger = served(rng, n), served(rng, n)
        spike(rng, challenger, max(1, int(0.015 * n)), 250.0)
        return champion, challenger

    trials = 1000
    count = rollbacks(cfg, trial, trials)
    print(f"load spike, slack {slack_ms} ms: {count}/{trials} rollbacks (alpha {alpha})")
    assert count <= allowed(alpha, trials)


def test_the_p99_ratio_rule_it_replaces_fell_for_one_pause() -> None:
    """The old rule (challenger p99 > 2 x champion p99 and 10 ms apart) on the issue's 79 and 71
    requests of equal models, one request of the challenger 60 ms slower."""
    rng = np.random.default_rng(0)
    old = 0
    for _ in range(200):
        champion, challenger = served(rng, 79), served(rng, 71)
        spike(rng, challenger, 1, 60.0)
        p99 = np.quantile(challenger, 0.99), np.quantile(champion, 0.99)
        old += p99[0] > 2 * p99[1] and p99[0] - p99[1] > 10
    print(f"the p99-ratio rule on 79 and 71 requests: {old}/200 rollbacks")
    assert old > 100  # it rolled back more than half of these equal pairs


@pytest.mark.parametrize(
    ("median_ms", "limit_ms", "expected"),
    [
        (20.0, 100.0, "champion p95"),  # 6.7x slower: the relative test
        (3.0, 2.0, "its p99 is above 2.0 ms"),  # over the absolute limit
    ],
)
def test_a_truly_slower_challenger_is_rolled_back(
    median_ms: float, limit_ms: float, expected: str
) -> None:
    cfg = with_guardrails(max_p99_latency_ms=limit_ms)
    n = cfg.guardrails.min_requests

    def trial(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return served(rng, n), served(rng, n, median_ms)

    hits = rollbacks(cfg, trial, trials=200)
    assert hits >= 198, hits
    champion, challenger = (served(np.random.default_rng(1), n, m) for m in (3.0, median_ms))
    reasons, _ = stats.latency_guardrail(
        cfg, {"champion": arm(champion), "challenger": arm(challenger)}
    )
    assert expected in reasons[0]


def test_histogram_counts_match_the_raw_values() -> None:
    values = served(np.random.default_rng(2), 5000)
    hist = stats.latency_histogram(values)
    assert sum(hist.values()) == 5000
    for threshold in (1.0, 3.0, 9.5, 40.0):
        b = stats.latency_bin(threshold)
        edge = stats.latency_edge(b)
        assert threshold <= edge < threshold * stats.LATENCY_RATIO
        assert stats._slower_than(hist, b) == int((values > edge).sum())


# ---- the replay: a busy machine does not reach the request log --------------------------


@dataclass
class FakeModel:
    """A model whose prediction can be made slow, as a loaded machine makes it."""

    version: str
    pause_s: float = 0.0
    kinds: dict[str, str] | None = None

    def predict(self, instances: list[Any]) -> list[float]:
        if self.pause_s:
            time.sleep(self.pause_s)
        return [0.7 for _ in instances]


def replay(tmp: Path, pause_s: float, latency: SimulatedLatency | None) -> list[dict[str, Any]]:
    (tmp / "model").mkdir(parents=True)
    registry = Registry(str(tmp / "registry"), "m")
    registry.publish(tmp / "model", "v1", {})
    registry.publish(tmp / "model", "v2", {})
    registry.move("champion", "v1", "test", expect=None)
    registry.start_challenger("v2", 50, "test")
    cfg = ABTestConfig(
        baseline_rate=0.5,
        min_detectable_effect=0.1,
        guardrails=Guardrails(min_requests=20, max_p99_latency_ms=10.0),
    )
    entries: list[dict[str, Any]] = []

    def read_out(_round: int, requests: list[Any], outcomes: list[Any]) -> dict[str, Any]:
        entries[:] = requests
        return readout_in_memory(cfg, registry, requests, outcomes)

    traffic = Traffic([{"text": "x"}], np.array([1]))
    rounds = simulate(
        registry,
        traffic,
        read_out,
        lambda _round, _decision: {},
        seed=7,
        units_per_round=60,
        max_rounds=1,
        loader=lambda _registry, version: FakeModel(version, pause_s if version == "v2" else 0),
        latency=latency,
    )
    assert len(rounds) == 1
    return [{**e, "reasons": rounds[0]["reasons"]} for e in entries]


def test_the_replay_latency_does_not_depend_on_a_busy_machine(tmp_path: Path) -> None:
    """A pause of 15 ms in every challenger prediction (over the 10 ms limit) changes what the
    router measures, not what the simulation records: same latencies, same decision."""
    quiet = replay(tmp_path / "quiet", 0.0, SimulatedLatency())
    busy = replay(tmp_path / "busy", 0.015, SimulatedLatency())
    assert [e["latency_ms"] for e in quiet] == [e["latency_ms"] for e in busy]
    assert quiet[0]["reasons"] == busy[0]["reasons"]
    assert not any("latency" in r for r in busy[0]["reasons"])
    slow = [e["measured_latency_ms"] for e in busy if e["arm"] == "challenger"]
    assert len(slow) >= 20 and min(slow) >= 15.0  # the pause was real
    # Measured (the option for a run that wants the machine's own timing): the pause shows.
    measured = replay(tmp_path / "measured", 0.015, None)
    assert any("latency" in r for r in measured[0]["reasons"])


def test_the_retired_p99_ratio_keys_are_named_with_their_replacement() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"\['max_p99_ratio'\] are retired.*latency_alpha"):
        Guardrails.model_validate({"max_p99_ratio": 2.0})


def test_the_shipped_configs_state_the_false_alarm_rate() -> None:
    import yaml

    from tests.conftest import REPO

    shipped = yaml.safe_load((REPO / "config" / "reviews.yaml").read_text())["abtest"]
    cfg = ABTestConfig.model_validate(shipped)
    assert shipped["guardrails"]["latency_alpha"] == cfg.guardrails.latency_alpha == 0.001
    assert cfg.guardrails.min_requests == 200
