"""Cost curves of the data layer: ingest, preprocess and dataset from 10 thousand to 10 million
synthetic review-like records, per Beam runner, in one run.

The records (JSON lines, 250,000 per file) are like the review corpus, with what makes the
steps work: about 3% dead letters (malformed JSON, a category outside the schema, an empty
text), 10% filtered (plot summaries), 5% exact and 3% near duplicates (a recent review with one
word changed), and a skewed group key (the most reviewed movie has about 3% of the reviews;
the dataset splits by movie and the preprocess step joins a per-movie profile onto each review).
The config is config/reviews.yaml's preprocess and dataset sections (NFKC, exact and MinHash
near-dedupe, the profile join; group split, TFRecord shards scaled to the size).

Each stage runs as the step's own command line (python -m components.<step>) in a child
process, as a compiled pipeline runs it, on these runners:
  in_process   Beam's in-process FnApiRunner, the local default (one worker);
  two_workers  the FnApiRunner with two SDK worker processes
               (--direct_num_workers=2 --direct_running_mode=multi_processing);
  prism        Beam's Prism job server, its SDK workers in our images (scripts/prism.py); it
               stands in for Flink, whose job server Maven Central does not serve here. Prism
               starts one SDK worker per environment and sends it up to 8 bundles at a time:
               the Python work runs in one process's threads (one core, under the GIL), the
               shuffles in Prism's own process. The bench's folder is bind-mounted into the
               worker containers at the same path, as a shared filesystem would be (the
               distributed tests use gs:// and no mount).
Ingest is not a Beam job: it runs once per size.

Per size, stage and runner: seconds, records per second (the stage's input records) and peak
memory (the largest sum, over the stage's processes and, on prism, the job server's and the
worker pools' containers, of their proportional set size, sampled every 0.2 s); whether each
runner's outputs are byte-identical to the in-process runner's. Per stage and runner: the growth
exponent b of seconds ~ records^b (least squares over the sizes) and of memory, the ratios of the
largest size to the one before, and the issue's targets next to them. Also the plain-Python loop
of bench/data.py (its rules: no near-dedupe or profile join) on the same records, for the
throughput ratio. Nothing is asserted: numbers are printed as JSON.

    python bench/scale.py [--sizes 10000,100000,1000000,10000000]
                          [--runners in_process,two_workers,prism] [--work DIR] [--keep]

A size's records are generated once into --work and reused by every runner; a full run to 10
million records takes hours on two cores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

PER_FILE = 250_000
RUNNERS = ("in_process", "two_workers", "prism")
STAGES = ("ingest", "preprocess", "dataset")
TARGETS = {
    "time_ratio_10x_at_most": 11.0,  # 10M takes at most 11 times 1M, per stage
    "memory_ratio_10x_at_most": 1.5,  # peak memory at 10M at most 1.5 times that at 1M
    "prism_vs_in_process_throughput_at_least": 1.5,  # at the largest size
    "preprocess_vs_plain_loop_at_least": 0.35,
}


def config(n: int) -> dict[str, Any]:
    """config/reviews.yaml's data sections, the TFRecord shards scaled to the size."""
    import yaml

    reviews = yaml.safe_load((REPO / "config" / "reviews.yaml").read_text())
    per_split = {"train": 80, "eval": 10, "test": 10}
    dataset = dict(reviews["dataset"])
    dataset["shards"] = {
        name: max(1, math.ceil(n * share / 100 / PER_FILE)) for name, share in per_split.items()
    }
    return {"model": reviews["model"], "preprocess": reviews["preprocess"], "dataset": dataset}


# --- the records --------------------------------------------------------------------------------


def _vocabulary(rng: random.Random, size: int = 5000) -> tuple[list[str], list[float]]:
    """Made-up words with Zipf frequencies, a few full-width so NFKC has work."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = ["".join(rng.choices(letters, k=rng.randint(2, 9))) for _ in range(size)]
    words[::97] = ["ｆｕｌｌ" + w for w in words[::97]]
    weights = [1 / (rank + 1) for rank in range(size)]
    total, cumulative = 0.0, []
    for w in weights:
        total += w
        cumulative.append(total)
    return words, cumulative


def synthesize(folder: Path, n: int, seed: int = 7) -> list[Path]:
    """`n` review-like JSON lines in files of PER_FILE; the same seed, the same bytes."""
    rng = random.Random(seed)
    words, cumulative = _vocabulary(rng)
    movies = max(1000, n // 200)
    recent: list[dict[str, str]] = []
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    out = None
    for i in range(n):
        if i % PER_FILE == 0:
            if out:
                out.close()
            paths.append(folder / f"reviews-{len(paths):05d}.jsonl")
            out = paths[-1].open("w", encoding="utf-8")
        assert out is not None
        roll = rng.random()
        if roll < 0.05 and recent:  # an exact duplicate
            record = dict(rng.choice(recent))
        elif roll < 0.08 and recent:  # a near duplicate: one word changed
            record = dict(rng.choice(recent))
            text = record["text"].split(" ")
            text[rng.randrange(len(text))] = rng.choice(words)
            record["text"] = " ".join(text)
        else:
            record = {
                "category": "plot" if roll < 0.18 else rng.choice(("fresh", "rotten")),
                "text": " ".join(rng.choices(words, cum_weights=cumulative, k=rng.randint(20, 60))),
                # skewed: movie-0 has 3% of the reviews, the others a skewed long tail
                "movie_name": "movie-0"
                if rng.random() < 0.03
                else f"movie-{1 + int((movies - 1) * rng.random() ** 1.5)}",
            }
            if len(recent) < 10_000:
                recent.append(record)
            else:
                recent[rng.randrange(len(recent))] = record
        bad = rng.random()
        if bad < 0.01:
            line = json.dumps(record, ensure_ascii=False)[:-7]  # malformed JSON
        elif bad < 0.02:
            line = json.dumps({**record, "category": "meh"}, ensure_ascii=False)
        elif bad < 0.03:
            line = json.dumps({**record, "text": " "}, ensure_ascii=False)
        else:
            line = json.dumps(record, ensure_ascii=False)
        out.write(line + "\n")
    if out:
        out.close()
    return paths


# --- measuring a stage --------------------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_pss_mb(roots: list[int]) -> float:
    """The proportional set size of `roots` and all their descendants, in MB."""
    tree, seen, todo = _children(), set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo.extend(tree.get(pid, []))
    return sum(_pss_kb(pid) for pid in seen) / 1024


class StageFailed(Exception):
    """A stage exited non-zero or was stopped at the memory limit; the message says which."""


class PeakMemory:
    """Samples tree_pss_mb of a process and the `extra` roots every `every` seconds; past
    `limit_mb` it kills the process's group (the machine must not start swapping or killing)."""

    def __init__(self, extra: list[int], limit_mb: float, every: float = 0.2) -> None:
        self._extra, self._limit, self._every = extra, limit_mb, every
        self.peak = 0.0
        self.over = False
        self._stop = threading.Event()

    def watch(self, proc: subprocess.Popen[bytes]) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                self.peak = max(self.peak, tree_pss_mb([proc.pid, *self._extra]))
                if self.peak > self._limit and proc.poll() is None:
                    self.over = True
                    os.killpg(proc.pid, signal.SIGKILL)
                self._stop.wait(self._every)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def run_stage(
    argv: list[str], log: Path, extra_roots: list[int], limit_mb: float
) -> tuple[float, float]:
    """(seconds, peak memory MB) of `python -m argv...`; StageFailed with the log's tail when
    it fails or passes `limit_mb`."""
    memory = PeakMemory(extra_roots, limit_mb)
    start = time.perf_counter()
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", *argv],
            cwd=REPO,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        memory.watch(proc)
        code = proc.wait()
    seconds = time.perf_counter() - start
    memory.stop()
    if memory.over:
        raise StageFailed(
            f"stopped after {seconds:.0f} s: its processes passed the memory limit of "
            f"{limit_mb:.0f} MB (--memory-limit-mb)"
        )
    if code != 0:
        tail = log.read_text(errors="replace")[-1500:]
        raise StageFailed(f"exited {code} after {seconds:.0f} s (log {log}): {tail}")
    return seconds, memory.peak


def tree_digest(folder: Path, shards: bool) -> str:
    """One digest of the relative paths and bytes of the data shards (part-*) under `folder`, or
    of every other file (the stats and schemas)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.name.startswith("part-") == shards:
            digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


# --- runners ------------------------------------------------------------------------------------


class Runner:
    """A runner's Beam options per step, and the processes besides the step's to measure."""

    def __init__(self, name: str, shared: Path) -> None:
        self.name, self._shared = name, shared
        self.roots: list[int] = []

    def __enter__(self) -> Runner:
        if self.name == "prism":
            import socket

            import prism

            with socket.socket() as probe:  # a free port for the job server, on loopback
                probe.bind(("127.0.0.1", 0))
                self._port = probe.getsockname()[1]
            prism.up(self._port, shared=self._shared)
            self.roots = [
                int(prism.docker("inspect", "-f", "{{.State.Pid}}", c).stdout)
                for c in (prism.JOB_SERVER, *prism.POOLS)
            ]
        return self

    def __exit__(self, *_: object) -> None:
        if self.name == "prism":
            import prism

            prism.down()

    def options(self, step: str) -> list[str]:
        if self.name == "two_workers":
            return ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]
        if self.name == "prism":
            import prism

            return prism.beam_options(step, self._port)
        return []


def beam_flag(options: list[str]) -> list[str]:
    return ["--beam-options", " ".join(options)] if options else []


# --- the curves ---------------------------------------------------------------------------------


def exponent(xs: list[float], ys: list[float]) -> float | None:
    """The least-squares slope of log y on log x: y ~ x^b."""
    if len(xs) < 2 or min(ys) <= 0:
        return None
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    den = sum((x - mx) ** 2 for x in lx)
    return round(sum((x - mx) * (y - my) for x, y in zip(lx, ly, strict=True)) / den, 3)


def curves(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for stage in STAGES:
        for runner in {r["runner"] for r in runs if r["stage"] == stage}:
            rows = sorted(
                (r for r in runs if r["stage"] == stage and r["runner"] == runner),
                key=lambda r: r["records"],
            )
            sizes = [r["records"] for r in rows]
            entry: dict[str, Any] = {
                "sizes": sizes,
                "time_exponent": exponent(sizes, [r["seconds"] for r in rows]),
                "memory_exponent": exponent(sizes, [r["peak_memory_mb"] for r in rows]),
            }
            if len(rows) >= 2:
                last, before = rows[-1], rows[-2]
                entry[f"time_ratio_{last['records']}_vs_{before['records']}"] = round(
                    last["seconds"] / before["seconds"], 2
                )
                entry[f"memory_ratio_{last['records']}_vs_{before['records']}"] = round(
                    last["peak_memory_mb"] / before["peak_memory_mb"], 2
                )
            out.setdefault(stage, {})[runner] = entry
    return out


def plain_loop(files: list[Path], work: Path) -> float:
    """bench/data.py's plain-Python preprocess over the same records: records per second."""
    import data

    from components.preprocess import pipeline  # noqa: F401  (imported before the clock starts)
    from components.preprocess.schema import PreprocessConfig

    rules = PreprocessConfig.model_validate(data.CONFIG["preprocess"])
    joined = work / "all.jsonl"
    with joined.open("wb") as out:
        for f in files:
            out.write(f.read_bytes())
    n = sum(1 for _ in joined.open("rb"))
    start = time.perf_counter()
    data.plain_python(joined, work / "plain-out.jsonl", rules)
    seconds = time.perf_counter() - start
    joined.unlink()
    (work / "plain-out.jsonl").unlink()
    return n / seconds


def measure_size(
    n: int, runners: list[str], work: Path, limit_mb: float
) -> Iterator[dict[str, Any]]:
    import yaml

    here = work / f"n{n}"
    source = here / "source"
    if not (here / "source.done").exists():
        shutil.rmtree(source, ignore_errors=True)
        start = time.perf_counter()
        synthesize(source, n)
        (here / "source.done").write_text(f"{time.perf_counter() - start:.1f}\n")
        print(f"{n}: synthesized in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    files = sorted(source.glob("*.jsonl"))
    cfg = here / "config.yaml"
    cfg.write_text(yaml.safe_dump(config(n), sort_keys=False))

    def row(stage: str, runner: str, seconds: float, peak: float, rows: int) -> dict[str, Any]:
        print(f"{n}: {stage} on {runner}: {seconds:.1f} s, {peak:.0f} MB", file=sys.stderr)
        return {
            "records": n, "stage": stage, "runner": runner, "seconds": round(seconds, 2),
            "records_per_s": round(rows / seconds), "peak_memory_mb": round(peak),
        }  # fmt: skip

    raw = here / "raw"
    shutil.rmtree(raw, ignore_errors=True)
    seconds, peak = run_stage(
        ["components.ingest", "--source", f"{source}/*.jsonl", "--config", str(cfg),
         "--output", str(raw)],
        here / "ingest.log", [], limit_mb,
    )  # fmt: skip
    yield row("ingest", "-", seconds, peak, n)
    plain = plain_loop(files, here)
    print(f"{n}: plain loop (bench/data.py's rules): {plain:.0f} records/s", file=sys.stderr)
    yield {"records": n, "stage": "plain_loop", "runner": "-", "records_per_s": round(plain)}

    digests: dict[str, dict[str, str]] = {}
    for name in runners:
        out = here / name
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        stage = "preprocess"
        try:
            with Runner(name, here) as runner:
                seconds, peak = run_stage(
                    ["components.preprocess", "--raw", str(raw), "--config", str(cfg),
                     "--output", str(out / "records"), *beam_flag(runner.options(stage))],
                    out / "preprocess.log", runner.roots, limit_mb,
                )  # fmt: skip
                stats = json.loads((out / "records" / "stats.json").read_text())
                counted = ("rows_in", "rows_out", "dead_letter", "filtered",
                           "duplicates_dropped", "near_duplicates_dropped")  # fmt: skip
                yield row(stage, name, seconds, peak, n) | {
                    "counts": {k: stats[k] for k in counted}
                }
                stage = "dataset"
                seconds, peak = run_stage(
                    ["components.dataset", "--records", str(out / "records"), "--config",
                     str(cfg), "--output", str(out / "dataset"),
                     *beam_flag(runner.options(stage))],
                    out / "dataset.log", runner.roots, limit_mb,
                )  # fmt: skip
                yield row(stage, name, seconds, peak, stats["rows_out"])
        except StageFailed as err:
            print(f"{n}: {stage} on {name}: {err}", file=sys.stderr)
            yield {"records": n, "stage": stage, "runner": name, "failed": str(err)[:300]}
            continue
        digests[name] = {
            f"{s}/{kind}": tree_digest(out / s, kind == "shards")
            for s in ("records", "dataset")
            for kind in ("shards", "stats")
        }
    reference = digests.get("in_process")
    if reference:  # which outputs each runner wrote byte for byte as the in-process runner
        yield {
            "records": n, "stage": "same_bytes", "runner": "-",
            "as_in_process": {
                name: {k: d[k] == reference[k] for k in d} for name, d in digests.items()
            },
        }  # fmt: skip


def checks(runs: list[dict[str, Any]], fitted: dict[str, Any]) -> dict[str, Any]:
    """The targets against what this run measured (None where it did not measure them)."""
    sizes = sorted({r["records"] for r in runs})
    out: dict[str, Any] = {}
    if len(sizes) >= 2:
        top, before = sizes[-1], sizes[-2]
        for stage, per_runner in fitted.items():
            for runner, entry in per_runner.items():
                out[f"{stage}/{runner}/time_ratio"] = entry.get(f"time_ratio_{top}_vs_{before}")
                out[f"{stage}/{runner}/memory_ratio"] = entry.get(f"memory_ratio_{top}_vs_{before}")
    top_runs = {
        (r["stage"], r["runner"]): r
        for r in runs
        if r["records"] == sizes[-1] and "records_per_s" in r
    }
    for stage in ("preprocess", "dataset"):
        a, b = top_runs.get((stage, "prism")), top_runs.get((stage, "in_process"))
        if a and b:
            out[f"{stage}/prism_vs_in_process_throughput"] = round(
                a["records_per_s"] / b["records_per_s"], 3
            )
    for n in sizes:
        plain = next(r for r in runs if r["records"] == n and r["stage"] == "plain_loop")
        beam = next(
            (r for r in runs if r["records"] == n and r["stage"] == "preprocess"
             and r["runner"] == "in_process" and "seconds" in r), None,
        )  # fmt: skip
        if beam:
            out[f"preprocess/in_process_vs_plain_loop/{n}"] = round(
                beam["records_per_s"] / plain["records_per_s"], 3
            )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000,1000000,10000000")
    parser.add_argument("--runners", default=",".join(RUNNERS))
    parser.add_argument("--work", type=Path, default=None, help="folder for records and outputs")
    parser.add_argument("--keep", action="store_true", help="keep the outputs (records stay)")
    parser.add_argument(
        "--memory-limit-mb",
        type=float,
        default=0.8 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20,
        help="stop a stage whose processes pass this (default: 80%% of this machine's memory)",
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    runners = [r for r in args.runners.split(",") if r]
    unknown = sorted(set(runners) - set(RUNNERS))
    if unknown:
        parser.error(f"--runners: unknown {unknown}; choose from {', '.join(RUNNERS)}")
    work = args.work or Path(tempfile.gettempdir()) / "bench-scale"
    work.mkdir(parents=True, exist_ok=True)
    os.chmod(work, 0o755)
    runs: list[dict[str, Any]] = []
    for n in sizes:
        try:
            runs.extend(measure_size(n, runners, work, args.memory_limit_mb))
        except StageFailed as err:  # ingest failed: nothing to measure the runners on
            print(f"bench/scale.py: {n} records: ingest {err}", file=sys.stderr)
            return 1
        if not args.keep:  # the outputs go; the stages' logs stay
            for name in runners:
                for output in ("records", "dataset"):
                    shutil.rmtree(work / f"n{n}" / name / output, ignore_errors=True)
    timed = [r for r in runs if "seconds" in r]
    failed = [r for r in runs if "failed" in r]
    fitted = curves(timed)
    result = {
        "sizes": sizes,
        "runners": runners,
        "cores": os.cpu_count(),
        "runs": runs,
        "curves": fitted,
        "failed": failed,
        "targets": TARGETS,
        "measured": checks(runs, fitted),
    }
    text = json.dumps(result, indent=2)
    (work / "scale.json").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
