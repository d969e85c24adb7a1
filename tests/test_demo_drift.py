"""scripts/demo_drift.py (`make demo-drift`) as a user runs it, on a small champion trained from
a sample of the corpus: no trigger before the inputs drift, exactly one retrain triggered once
they do (reason drift), the cooldown skipping the later hours, the retrain succeeding; and the
clear refusal when there is no champion."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, run_retrain, small_config

SCRIPT = REPO / "scripts" / "demo_drift.py"
TF_BANNERS = ("oneDNN", "cpu_feature_guard", "absl::InitializeLog", "TF-TRT")


def demo(*args: str | Path | int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1800,
    )


def test_without_a_champion_it_says_to_run_make_demo(tmp_path: Path) -> None:
    empty = tmp_path / "registry"
    empty.mkdir()
    done = demo("--registry-root", empty, "--dataset", tmp_path, "--output", tmp_path / "d")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "no champion" in done.stderr and "make demo" in done.stderr
    assert str(empty / "reviews-sentiment") in done.stderr


def test_bad_flags_are_refused(tmp_path: Path) -> None:
    done = demo("--hours", "3", "--drift-from", "5")
    assert done.returncode == 2
    assert "--drift-from 5" in done.stderr


def sample_config(tmp: Path) -> Path:
    """The small config with a monitor section for the sample: its test split holds ~100
    reviews, so even undrifted hours show a text-length PSI up to ~0.3 against training (the
    full corpus: 0.02-0.06), and a fifth of their words are not among the ~900 training
    reviews' (whose word list is whole: a baseline of 0%); the drifted reviews, three times as
    long, reach a PSI of ~12 (and keep their words: the OOV rate does not move)."""
    path = small_config(tmp)
    cfg = yaml.safe_load(path.read_text())
    cfg["monitor"] = {"psi_warn": 0.5, "psi_drift": 1.0, "oov_rate_increase": 0.5}
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.integration
@pytest.mark.slow
def test_drift_triggers_exactly_one_retrain(tmp_path: Path, sample_csv: Path) -> None:
    config = sample_config(tmp_path)
    run_retrain(tmp_path, "champion", sample_csv, config)
    (dataset,) = (tmp_path / "champion").glob("retrain-*/build-dataset/dataset")
    out = tmp_path / "demo"
    hours, drift_from, after_hours = 5, 3, 1
    done = demo(
        "--registry-root", tmp_path / "registry-champion", "--config", config,
        "--dataset", dataset, "--output", out, "--hours", hours, "--drift-from", drift_from,
        "--after-hours", after_hours, "--requests-per-hour", 200, "-p", f"data_uri={sample_csv}",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for banner in TF_BANNERS:
        assert banner not in done.stdout + done.stderr

    story = json.loads((out / "story.json").read_text())
    assert len(story["hours"]) == hours + after_hours
    before, after = story["hours"][:drift_from], story["hours"][drift_from:]
    assert [h["verdict"] for h in before] == ["ok"] * drift_from, before
    assert [h["trigger"] for h in before] == [None] * drift_from  # ok: the step did not run
    assert [h["verdict"] for h in after] == ["drift"] * len(after), after
    assert any("'text'" in reason for reason in after[0]["reasons"]), after[0]["reasons"]
    assert after[0]["trigger"]["fired"], after[0]["trigger"]
    assert after[0]["trigger"]["reason"].startswith("drift"), after[0]["trigger"]
    for later in after[1:]:  # the same drift an hour later: in flight, or within the cooldown
        assert not later["trigger"]["fired"], later["trigger"]
        assert later["trigger"]["why"], later["trigger"]
    # after the retrain ended, only the cooldown holds the trigger back
    assert "cooldown" in after[-1]["trigger"]["why"], after[-1]["trigger"]
    for h in story["hours"]:
        assert Path(h["report"]).is_file()

    (retrain,) = story["retrains"]
    record = json.loads((Path(retrain) / "run.json").read_text())
    assert record["status"] == "succeeded"
    assert record["arguments"]["reason"].startswith("drift")
    assert record["arguments"]["data_uri"] == str(sample_csv)
    assert "retrain succeeded" in done.stdout
    assert f"{hours + after_hours} monitor runs" in done.stdout
    assert "1 retrain(s) triggered" in done.stdout
