"""End-to-end benchmark: one local run of the retraining DAG on the full review corpus.

Prints JSON: total and per-step wall time, rows per second per step, and the test ROC AUC.
Numbers are measured, never asserted here; read them against the targets in the README.

    python bench/e2e.py [--keep DIR] [-p name=value ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def rows_per_step(tasks: dict[str, Any]) -> dict[str, int]:
    """How many rows each step processed, read from the artifacts the steps wrote."""

    def artifact(task: str, name: str) -> Path:
        """By the step's task name: train and deploy run inside condition sub-DAGs."""
        (key,) = [k for k, t in tasks.items() if k.split("/")[-1] == task and t["artifacts"]]
        return Path(tasks[key]["artifacts"][name]["uri"])

    pre = json.loads((artifact("preprocess", "records") / "stats.json").read_text())
    data = json.loads((artifact("build-dataset", "dataset") / "stats.json").read_text())
    history = json.loads((artifact("train", "model") / "history.json").read_text())
    epochs = len(history["loss"])
    out = {
        "ingest": pre["manifest_row_count"],
        "preprocess": pre["rows_in"],
        "build-dataset": data["total_examples"],
        "train": (data["splits"]["train"]["examples"] + data["splits"]["eval"]["examples"])
        * epochs,
        "evaluate": data["splits"]["test"]["examples"],
    }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keep", type=Path, default=None, help="keep runs and registry here")
    parser.add_argument("-p", "--param", action="append", default=[])
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    cmd = [
        sys.executable,
        "-m",
        "pipelines",
        "run",
        "retrain",
        "--runs-dir",
        str(work / "runs"),
        "-p",
        f"registry_root={work / 'registry'}",
    ]
    for p in args.param:
        cmd += ["-p", p]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    total = time.monotonic() - started
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
        return proc.returncode
    run_dir = sorted((work / "runs").glob("retrain-*"))[-1]
    record = json.loads((run_dir / "run.json").read_text())
    tasks = record["tasks"]
    rows = rows_per_step(tasks)
    steps = {}
    for key, task in tasks.items():
        if task["log"] is None:
            continue
        name = key.split("/")[-1]
        secs = task["seconds"]
        steps[name] = {
            "seconds": secs,
            "rows": rows.get(name),
            "rows_per_second": round(rows[name] / secs, 1) if rows.get(name) and secs else None,
        }
    metrics = tasks["evaluate"]["artifacts"]["metrics"]["metadata"]
    print(
        json.dumps(
            {
                "benchmark": "e2e_local_retrain",
                "cores": __import__("os").cpu_count(),
                "total_seconds": round(total, 1),
                "steps": steps,
                "test_roc_auc": round(metrics["roc_auc"], 4),
                "test_accuracy": round(metrics["accuracy"], 4),
                "blessed": any(
                    k.split("/")[-1] == "deploy" and t["status"] == "succeeded"
                    for k, t in tasks.items()
                ),
                "run_dir": str(run_dir),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
