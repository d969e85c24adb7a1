"""The replay's console output (one row per round, a final sentence in the readout's words,
no TensorFlow banners), the readout's wording of the test, and the seeded replay: the same seed
and models give the same rounds whatever the versions are called."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from components.common.registry import Registry
from components.promote.promote import apply
from components.readout import stats
from components.readout.config import ABTestConfig
from components.readout.memory import readout_in_memory
from components.serve.replay import Traffic, final_sentence, round_table, simulate
from tests.conftest import run_cli

MODEL = "reviews-sentiment"
CFG = ABTestConfig(baseline_rate=0.5, min_detectable_effect=0.1)  # horizon 305 units per arm
BANNERS = ("oneDNN", "cpu_feature_guard", "absl::InitializeLog", "This TensorFlow binary")


def save_model(path: Path, kind: str) -> Path:
    """A real SavedModel with the trained models' serving signature ({text} -> probability):
    `long` says positive for reviews longer than 30 characters, `positive` always 0.9,
    `broken` fails on every review."""
    import tensorflow as tf

    class Served(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def serve(self, text: Any) -> dict[str, Any]:
            if kind == "broken":
                return {"probability": tf.strings.to_number(text)}
            if kind == "long":
                long = tf.strings.length(text) > 30
                return {"probability": tf.where(long, 0.9, 0.1)}
            return {"probability": tf.fill(tf.shape(text), 0.9)}

    module = Served()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("models")
    return {k: save_model(tmp / k, k) for k in ("long", "positive", "broken")}


def traffic(n: int = 400) -> Traffic:
    """Reviews whose label is their length (> 30 characters positive), so `long` is right on
    every one and `positive` on the long half."""
    rng = np.random.default_rng(7)
    lengths = rng.integers(5, 60, n)
    records = [{"text": "x" * int(k)} for k in lengths]
    return Traffic(records, (lengths > 30).astype(int))


def registry_with(root: Path, champion: Path, challenger: Path, names: tuple[str, str]) -> Registry:
    registry = Registry(str(root), MODEL)
    registry.publish(champion, names[0], {})
    registry.publish(challenger, names[1], {})
    registry.move("champion", names[0], "test", expect=None)
    registry.start_challenger(names[1], 20, "test")  # the salt is the version's name
    return registry


def replay(registry: Registry, seed: int) -> list[dict[str, Any]]:
    return simulate(
        registry,
        traffic(),
        lambda _round, requests, outcomes: readout_in_memory(CFG, registry, requests, outcomes),
        lambda _round, decision: apply(decision, registry),
        seed=seed,
        units_per_round=300,
        max_rounds=12,
    )


def numbers(rounds: list[dict[str, Any]]) -> list[Any]:
    return [(r["arms"], r.get("test") or r.get("interim"), r["decision"]) for r in rounds]


@pytest.mark.integration
def test_seeded_replay_repeats_whatever_the_versions_are_called(
    tmp_path: Path, models: dict[str, Path]
) -> None:
    """Two replays with seed 5 on the same models, the versions named differently (so the
    router's salt differs), give the same table; another seed gives another one."""
    names = [("v1", "v2"), ("v20261201T000000Z-aa", "v20261202T101010Z-bb"), ("v1", "v2")]
    runs = []
    for i, (pair, seed) in enumerate(zip(names, (5, 5, 6), strict=True)):
        registry = registry_with(tmp_path / str(i), models["positive"], models["long"], pair)
        runs.append(replay(registry, seed))
    first, renamed, other_seed = runs
    assert numbers(first) == numbers(renamed)
    assert round_table(first) == round_table(renamed)
    assert numbers(first) != numbers(other_seed)
    # The seeded arms keep the split's share: 20% of the units see the challenger.
    arms = first[-1]["arms"]
    share = arms["challenger"]["units"] / (arms["challenger"]["units"] + arms["champion"]["units"])
    assert 0.15 < share < 0.25, arms
    assert first[-1]["decision"] == "promote"  # `long` is right on every review
    table = round_table(first).splitlines()
    assert table[0].split() == [
        "round", "units", "sent", "champion", "n", "rate", "challenger", "n", "rate",
        "delta", "p", "failed", "decision",
    ]  # fmt: skip
    assert len(table) == 1 + len(first)
    assert all(line.rstrip().endswith("per arm)") for line in table[1:-1])  # continue (n of h)
    assert table[-1].endswith("promote")
    sentence = final_sentence(first)
    assert sentence.startswith(
        f"promoted after {len(first)} rounds ({len(first) * 300:,} units): the challenger "
        "v2 is significantly better: delta +0."
    ), sentence
    assert f"< alpha 0.05, at {stats.min_units_per_arm(CFG)} units per arm" in sentence


def verdict(challenger_rate: float, n: int = 2000) -> tuple[str, str]:
    """The readout's decision and sentence for arms whose outcome rates are exactly these."""

    def arm(rate: float) -> np.ndarray:
        ones = round(rate * n)
        return np.array([1.0] * ones + [0.0] * (n - ones))

    result = stats.compare(arm(challenger_rate), arm(0.5), 0.05)
    return stats.test_verdict(result, 0.05, n)


def test_the_test_is_worded_by_its_significance() -> None:
    word, text = verdict(0.56)
    assert word == "promote"
    assert text.startswith("the challenger is significantly better: delta +0.0600 (90% CI +0.0")
    assert text.endswith("< alpha 0.05, at 2000 units per arm")
    word, text = verdict(0.51)
    assert word == "rollback"
    assert text.startswith("the challenger is not significantly better: delta +0.0100 (90% CI -0")
    assert text.endswith(">= alpha 0.05, at 2000 units per arm")
    word, text = verdict(0.45)
    assert word == "rollback"
    assert text.startswith("the challenger is significantly worse: delta -0.0500 (90% CI -0.0")
    assert "to -0.0" in text  # the whole interval below 0


def test_final_sentence_names_the_outcome() -> None:
    _, worse = verdict(0.45)
    rounds = [
        {"round": 1, "decision": "continue", "reasons": ["x"], "units_sent": 2000},
        {"round": 2, "decision": "rollback", "reasons": [worse], "units_sent": 4000},
    ]
    rounds[-1]["challenger"] = "v2"
    named = worse.replace("the challenger", "the challenger v2", 1)
    assert final_sentence(rounds) == f"rolled back after 2 rounds (4,000 units): {named}"
    running = {
        "round": 1,
        "decision": "continue",
        "reasons": ["80 of 305 units"],
        "units_sent": 200,
    }
    assert final_sentence([running]) == (
        "still running after 1 round (200 units): 80 of 305 units; raise --max-rounds to go on"
    )


@pytest.mark.integration
def test_replay_cli_prints_a_quiet_table_and_one_sentence(
    tmp_path: Path, models: dict[str, Path], built_dataset: Path
) -> None:
    """`python -m components.serve.replay` as `make demo-ab` runs it, with the readout and
    promote CLIs: a challenger that fails every request is rolled back at the first readout.
    The console has the table and the sentence, no TensorFlow banner and no JSON; the numbers
    are in <output>/rounds.jsonl. A second replay on the same logs is refused."""
    registry = registry_with(
        tmp_path / "registry", models["positive"], models["broken"], ("v1", "v2")
    )
    config = tmp_path / "abtest.yaml"
    config.write_text(yaml.safe_dump({"model": {"name": MODEL}, "abtest": CFG.model_dump()}))
    args: list[str] = [
        "--dataset", str(built_dataset), "--config", str(config), "--registry-root", registry.root,
        "--log-root", str(tmp_path / "out" / "logs"), "--output", str(tmp_path / "out"),
        "--units-per-round", "60", "--max-rounds", "3",
    ]  # fmt: skip
    result = run_cli("components.serve.replay", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not [b for b in BANNERS if b in result.stdout + result.stderr], result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["round", "units", "sent"]
    assert lines[1].split()[0] == "1" and lines[1].endswith("roll back")
    assert "{" not in result.stdout and "champion_200" not in result.stdout
    assert lines[3].startswith("rolled back after 1 round (60 units): guardrail error rate:")
    rounds = [json.loads(x) for x in (tmp_path / "out" / "rounds.jsonl").read_text().splitlines()]
    assert len(rounds) == 1 and rounds[0]["traffic"]["challenger_500"] > 0
    assert f"every round's numbers: {tmp_path / 'out' / 'rounds.jsonl'}" in result.stdout
    assert registry.challenger() is None

    registry.start_challenger("v2", 20, "again")
    again = run_cli("components.serve.replay", *args)
    assert again.returncode == 2
    assert "replay-0.jsonl exists: a replay with seed 0 already logged" in again.stderr
