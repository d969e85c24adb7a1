"""The reviews model against its TF-IDF baseline, from one retraining run, printed as JSON.

Runs the retraining DAG locally on the full review corpus (`python -m pipelines run retrain`
with config/reviews.yaml, into a temporary runs folder), then reads that run's own metrics: the
train step's training seconds (vocabularies, fit, export: `train_seconds` of its metrics.json,
the TensorFlow import left out), the seconds the evaluate step took to fit the TF-IDF + logistic
regression baseline on the same train split, their ratio (target: at most 10), the test ROC AUC
of both and the margin (config/reviews.yaml blesses no less than 0.01).

    python bench/reviews.py            # one full run, about 3 minutes on 2 cores
    python bench/reviews.py --run DIR  # the numbers of a finished run folder (runs/retrain-*)
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
TRAIN_TASK = "condition-branches-1/condition-2/train"
TARGET_RATIO = 10.0


def summary(run_dir: Path) -> dict[str, Any]:
    """The numbers of one finished retrain run folder (its run.json and the steps' outputs)."""
    run = json.loads((run_dir / "run.json").read_text())
    tasks = run["tasks"]
    for task in (TRAIN_TASK, "evaluate"):
        if tasks.get(task, {}).get("status") != "succeeded":
            raise SystemExit(f"{run_dir}: task {task} did not succeed; nothing to measure")
    model = Path(tasks[TRAIN_TASK]["artifacts"]["model"]["uri"])
    trained = json.loads((model / "metrics.json").read_text())
    metrics = json.loads(Path(tasks["evaluate"]["artifacts"]["metrics"]["uri"]).read_text())
    baseline = metrics["baselines"].get("tfidf")
    if not baseline or baseline.get("fit_seconds") is None:
        raise SystemExit(f"{run_dir}: the evaluate step fit no tfidf baseline")
    if "train_seconds" not in trained:
        raise SystemExit(f"{model}/metrics.json has no train_seconds (a model of an older train)")
    fit_s = float(baseline["fit_seconds"])
    train_s = float(trained["train_seconds"])
    candidate = float(metrics["roc_auc"])
    reference = float(metrics["baseline_tfidf_roc_auc"])
    return {
        "run": str(run_dir),
        "train_examples": json.loads(
            (Path(tasks["build-dataset"]["artifacts"]["dataset"]["uri"]) / "stats.json").read_text()
        )["splits"]["train"]["examples"],
        "train_s": train_s,
        "train_step_s": tasks[TRAIN_TASK]["seconds"],
        "epochs_trained": trained.get("best_epoch"),
        "baseline_fit_s": fit_s,
        "train_vs_baseline_fit": round(train_s / max(fit_s, 1e-9), 2),
        "target_ratio": TARGET_RATIO,
        "model_test_roc_auc": round(candidate, 4),
        "baseline_test_roc_auc": round(reference, 4),
        "margin": round(candidate - reference, 4),
        "blessed": metrics["blessing"]["blessed"],
        "run_s": run.get("seconds"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=None, help="a finished run folder")
    args = parser.parse_args()
    if args.run is not None:
        print(json.dumps(summary(args.run), indent=2))
        return
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp) / "runs"
        command = [
            sys.executable,
            "-m",
            "pipelines",
            "run",
            "retrain",
            "--runs-dir",
            str(runs),
            "-p",
            f"registry_root={Path(tmp) / 'registry'}",
        ]
        print("running the retrain DAG on the full review corpus", file=sys.stderr)
        start = time.perf_counter()
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
        if done.returncode != 0:
            sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
            raise SystemExit(f"the retrain run failed (exit {done.returncode})")
        (run_dir,) = runs.glob("retrain-*")
        result = summary(run_dir)
        result["wall_s"] = round(time.perf_counter() - start, 1)
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
