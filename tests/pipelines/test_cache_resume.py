"""The local runners' step cache and `--resume`: a task is reused when its component, parameters
and input artifacts' content are the same, never when its caching option is off or `--no-cache`
is given; the second retraining run on the same data reuses ingest's successors to train; a
killed run resumes in place to the same artifacts as an uninterrupted one."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from kfp import compiler, dsl

from pipelines import ir, platform
from pipelines.argo import cluster
from pipelines.argo.compile import CACHING_ANNOTATION, compile_ir
from pipelines.local.argo import ArgoLocalRunner
from pipelines.local.cache import Reuse, StepCache
from pipelines.local.kfp import LocalRunner
from pipelines.local.results import TaskFailed, TaskResult, allocate_run_dir
from tests.conftest import REPO, TRAIN_TASK, run_cli, small_config

IMAGE = "python:3.11-slim"
# snapshot: copies the file `source` (its `stamp` only recorded, as ingest's window end);
# shape: its input times `factor`, after a pause (the expensive step; it fails, with the exit
# code of bad input that Argo's retry rule does not retry, while the file
# `fail-shape` is in the log folder); judge: cache off.
SNAPSHOT = (
    "import sys, pathlib; source, stamp, out, log = sys.argv[1:5]; "
    "pathlib.Path(out).parent.mkdir(parents=True, exist_ok=True); "
    "pathlib.Path(out).write_text(pathlib.Path(source).read_text()); "
    "open(pathlib.Path(log, 'snapshot'), 'a').write(stamp + '\\n')"
)
SHAPE = (
    "import sys, pathlib, time; data, factor, out, log = sys.argv[1:5]; time.sleep(1.5); "
    "sys.exit(2) if pathlib.Path(log, 'fail-shape').exists() else None; "
    "pathlib.Path(out).parent.mkdir(parents=True, exist_ok=True); "
    "pathlib.Path(out).write_text(pathlib.Path(data).read_text() * int(factor)); "
    "open(pathlib.Path(log, 'shape'), 'a').write('ran\\n')"
)
JUDGE = (
    "import sys, pathlib; data, log = sys.argv[1:3]; "
    "open(pathlib.Path(log, 'judge'), 'a').write(pathlib.Path(data).read_text() + '\\n')"
)


@dsl.container_component
def snapshot(source: str, stamp: str, log_dir: str, out: dsl.Output[dsl.Dataset]):
    return dsl.ContainerSpec(
        image=IMAGE, command=["python", "-c", SNAPSHOT], args=[source, stamp, out.path, log_dir]
    )


@dsl.container_component
def shape(data: dsl.Input[dsl.Dataset], factor: int, log_dir: str, out: dsl.Output[dsl.Dataset]):
    return dsl.ContainerSpec(
        image=IMAGE, command=["python", "-c", SHAPE], args=[data.path, factor, out.path, log_dir]
    )


@dsl.container_component
def judge(data: dsl.Input[dsl.Dataset], log_dir: str):
    return dsl.ContainerSpec(
        image=IMAGE, command=["python", "-c", JUDGE], args=[data.path, log_dir]
    )


@dsl.pipeline(name="cached")
def cached(source: str, stamp: str, log_dir: str, factor: int = 2):
    raw = snapshot(source=source, stamp=stamp, log_dir=log_dir)
    shaped = shape(data=raw.outputs["out"], factor=factor, log_dir=log_dir)
    judge(data=shaped.outputs["out"], log_dir=log_dir).set_caching_options(False)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ir") / "cached.yaml"
    compiler.Compiler().compile(cached, str(path))
    return path


class Tiny:
    """Runs of the `cached` pipeline on one engine, sharing one runs dir (so one cache)."""

    def __init__(self, manifest: Path, engine: str, tmp: Path) -> None:
        self.spec, self.engine, self.tmp = ir.load(manifest), engine, tmp
        self.logs = tmp / "logs"
        self.logs.mkdir()
        self.source = tmp / "source.txt"
        self.source.write_text("ab")
        self.bundle = compile_ir(manifest, platform.load()) if engine == "argo" else None

    def run(
        self,
        stamp: str = "t1",
        factor: int = 2,
        read: bool = True,
        run_dir: Path | None = None,
        finished: dict[str, TaskResult] | None = None,
    ) -> dict[str, str]:
        """One run (resuming: in `run_dir`, its `finished` tasks reused); each task's status."""
        run_dir = run_dir or allocate_run_dir(self.tmp / "runs", "cached")
        reuse = Reuse(StepCache(run_dir.parent, REPO, read=read), finished or {})
        params: dict[str, Any] = {
            "source": str(self.source),
            "stamp": stamp,
            "log_dir": str(self.logs),
            "factor": factor,
        }
        runner: Any
        if self.bundle is None:
            runner = LocalRunner(self.spec, run_dir, params, cwd=REPO, reuse=reuse)
        else:
            runner = ArgoLocalRunner(
                self.bundle.workflow,
                list(self.bundle.templates.values()),
                run_dir,
                {k: str(v) for k, v in params.items()},
                cwd=REPO,
                repository=cluster.artifact_repository("artifacts"),
                repository_root=self.tmp / "repo",
                reuse=reuse,
            )
        self.runner = runner
        with contextlib.suppress(TaskFailed):  # the statuses say which task failed
            runner.run()
        return {k.split("/")[-1]: r.status for k, r in runner.results.items() if r.log}

    def count(self, step: str) -> int:
        path = self.logs / step
        return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.mark.parametrize("engine", ["kfp", "argo"])
def test_the_key_params_content_option_and_no_cache(
    compiled: Path, engine: str, tmp_path: Path
) -> None:
    tiny = Tiny(compiled, engine, tmp_path)
    first = tiny.run()
    assert set(first.values()) == {"succeeded"}
    # The same run again: both cached steps are reused, judge (caching off) runs again.
    again = tiny.run()
    assert [again[k] for k in sorted(again)] == ["succeeded", "cached", "cached"]  # judge first
    assert (tiny.count("snapshot"), tiny.count("shape"), tiny.count("judge")) == (1, 1, 2)
    # A parameter of shape changes: shape misses, snapshot still hits.
    changed = tiny.run(factor=3)
    assert (changed["snapshot"], changed["shape"]) == ("cached", "succeeded")
    # A new stamp: snapshot runs (its parameter changed) but writes the same content, so shape
    # (factor 2 again) hits on its input's content, not its path.
    stamped = tiny.run(stamp="t2")
    assert (stamped["snapshot"], stamped["shape"]) == ("succeeded", "cached")
    # The source file edited in place (same path): snapshot misses, then shape on new content.
    tiny.source.write_text("abc")
    edited = tiny.run(stamp="t2")
    assert (edited["snapshot"], edited["shape"]) == ("succeeded", "succeeded")
    # --no-cache: everything runs; the results are still recorded for the next run.
    runs = tiny.count("shape")
    forced = tiny.run(stamp="t2", read=False)
    assert set(forced.values()) == {"succeeded"} and tiny.count("shape") == runs + 1
    judged = tiny.count("judge")
    assert tiny.run(stamp="t2")["shape"] == "cached"
    assert tiny.count("judge") == judged + 1  # never cached
    assert tiny.logs.joinpath("judge").read_text().splitlines()[-1] == "abcabc"


@pytest.mark.parametrize("engine", ["kfp", "argo"])
def test_a_failed_run_resumes_in_place_from_its_first_unfinished_task(
    compiled: Path, engine: str, tmp_path: Path
) -> None:
    tiny = Tiny(compiled, engine, tmp_path)
    (tiny.logs / "fail-shape").write_text("")
    failed = tiny.run(read=False)
    assert (failed["snapshot"], failed["shape"]) == ("succeeded", "failed")
    (run_dir,) = (tmp_path / "runs").glob("cached-*")
    finished = {k: r for k, r in tiny.runner.results.items() if r.ok and r.log}
    (tiny.logs / "fail-shape").unlink()
    resumed = tiny.run(read=False, run_dir=run_dir, finished=finished)
    assert resumed == {"snapshot": "succeeded", "shape": "succeeded", "judge": "succeeded"}
    assert tiny.count("snapshot") == 1 and tiny.count("judge") == 1  # snapshot not rerun
    assert list((tmp_path / "runs").glob("cached-*")) == [run_dir]
    assert tiny.logs.joinpath("judge").read_text() == "abab\n"


@pytest.mark.parametrize("engine", ["kfp", "argo"])
def test_a_hit_copies_the_artifacts_and_a_missing_source_is_a_miss(
    compiled: Path, engine: str, tmp_path: Path
) -> None:
    tiny = Tiny(compiled, engine, tmp_path)
    t0 = time.monotonic()
    tiny.run()
    first = time.monotonic() - t0
    t0 = time.monotonic()
    assert tiny.run()["shape"] == "cached"
    assert time.monotonic() - t0 < first  # shape's pause is skipped
    old, new = sorted((tmp_path / "runs").glob("cached-*"))
    entries = [json.loads(p.read_text()) for p in (tmp_path / "runs" / ".cache").glob("*.json")]
    shaped = next(e for e in entries if e["task"].endswith("shape"))
    assert shaped["run"] == new.name  # the entry follows the newest copy
    copy = Path(shaped["artifacts"]["out"]["uri"])
    assert copy.read_text() == "abab" and (new.name in str(copy))
    # The runs' artifacts are files of their own: deleting them makes the next run a miss.
    import shutil

    shutil.rmtree(new)
    copy.unlink(missing_ok=True)  # Argo's artifacts are in the artifact repository
    assert tiny.run()["shape"] == "succeeded"
    assert old.exists()


def test_the_argo_templates_carry_the_caching_option(compiled: Path) -> None:
    bundle = compile_ir(compiled, platform.load())
    annotations = {
        name: t["spec"]["templates"][0]["metadata"].get("annotations", {})
        for name, t in bundle.templates.items()
    }
    assert annotations["judge"] == {CACHING_ANNOTATION: "false"}
    assert CACHING_ANNOTATION not in annotations["shape"]
    retrain = compile_ir(REPO / "manifests" / "kfp" / "retrain.yaml", platform.load())
    off = {
        name
        for name, t in retrain.templates.items()
        if t["spec"]["templates"][0]["metadata"].get("annotations", {}).get(CACHING_ANNOTATION)
    }
    assert off == {"evaluate", "record", "deploy"}


def test_cli_no_cache_resume_of_a_failed_run_and_refusals(compiled: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "cached.yaml"
    manifest.write_text(compiled.read_text())
    logs = tmp_path / "logs"
    logs.mkdir()
    source = tmp_path / "source.txt"
    source.write_text("ab")
    args = [
        "run",
        "retrain",
        "--manifest",
        str(manifest),
        "--runs-dir",
        str(tmp_path / "runs"),
        "-p",
        f"source={source}",
        "-p",
        "stamp=t",
        "-p",
        f"log_dir={logs}",
    ]
    # shape fails: the run stops, its record says what finished.
    (logs / "fail-shape").write_text("")
    failed = run_cli("pipelines", *args)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    (run_dir,) = (tmp_path / "runs").glob("retrain-*")
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "failed" and record["tasks"]["snapshot"]["status"] == "succeeded"
    # Resumed (by name under --runs-dir) once the cause is gone: in place, from shape on.
    (logs / "fail-shape").unlink()
    resumed = run_cli(
        "pipelines", "run", "--resume", run_dir.name, "--runs-dir", str(tmp_path / "runs")
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "[1/3] snapshot: done before the resume (succeeded)" in resumed.stdout
    assert "[2/3] shape: running" in resumed.stdout
    assert (logs / "snapshot").read_text() == "t\n"  # snapshot ran once
    assert list((tmp_path / "runs").glob("retrain-*")) == [run_dir]
    after = json.loads((run_dir / "run.json").read_text())
    assert after["status"] == "succeeded" and after["arguments"] == record["arguments"]
    refused = run_cli("pipelines", "run", "--resume", str(run_dir))
    assert refused.returncode == 2
    assert "the run succeeded; there is nothing to resume" in refused.stderr
    # A new run reuses snapshot and shape; with --no-cache both run again.
    again = run_cli("pipelines", *args)
    assert again.returncode == 0 and "shape: cached (from run " in again.stdout
    forced = run_cli("pipelines", *args, "--no-cache")
    assert forced.returncode == 0 and ": cached (from run" not in forced.stdout
    assert (logs / "snapshot").read_text() == "t\nt\n"
    # A record whose manifest changed since is refused, as is a folder with no record.
    record["status"] = "failed"
    (run_dir / "run.json").write_text(json.dumps(record))
    manifest.write_text(manifest.read_text() + "\n# recompiled\n")
    refused = run_cli("pipelines", "run", "--resume", str(run_dir))
    assert refused.returncode == 2 and "changed since the run started" in refused.stderr
    missing = run_cli("pipelines", "run", "--resume", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "no run record at" in missing.stderr


# ---- the retraining DAG -------------------------------------------------------------------


def _retrain_args(
    tmp: Path, runs: str, registry: str, data: Path, config: Path, when: str
) -> list[str]:
    return [
        "pipelines",
        "run",
        "retrain",
        "--runs-dir",
        str(tmp / runs),
        "--local-gcs",
        str(tmp / "gcs"),
        "--scheduled-time",
        when,
        "-p",
        f"data_uri={data}",
        "-p",
        f"config={config}",
        "-p",
        f"registry_root={tmp / registry}",
    ]


def _record(run_dir: Path) -> dict[str, Any]:
    return dict(json.loads((run_dir / "run.json").read_text()))


def _descendants(pid: int) -> list[int]:
    """The processes under `pid` (from /proc), whatever process group they put themselves in."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    out, frontier = [], [pid]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier]
        out += children
        frontier = children
    return out


DATA_FILES = ("ingest/raw/data", "build-dataset/dataset")


@pytest.mark.integration
def test_second_run_reuses_ingest_to_train_and_a_killed_run_resumes(
    tmp_path: Path, sample_csv: Path
) -> None:
    config = small_config(tmp_path)
    first = run_cli(
        *_retrain_args(tmp_path, "a", "reg-a", sample_csv, config, "2026-11-22T03:00:00Z")
    )
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    # The next day's run on the same data: ingest runs (its window end changed), its snapshot
    # holds the same data, so preprocess, dataset and train are reused; evaluate, record and
    # deploy opt out of caching.
    second = run_cli(
        *_retrain_args(tmp_path, "a", "reg-a", sample_csv, config, "2026-11-23T03:00:00Z")
    )
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    one, two = (_record(d) for d in sorted((tmp_path / "a").glob("retrain-*")))
    status = {k: t["status"] for k, t in two["tasks"].items()}
    assert status["ingest"] == "succeeded"
    for task in ("preprocess", "build-dataset", TRAIN_TASK):
        assert status[task] == "cached", task
        assert two["tasks"][task]["cached_from"] == Path(one["tasks"]["ingest"]["log"]).parts[-3]
    assert status["evaluate"] == "succeeded" and status["record"] == "succeeded"
    assert "cached" not in {t["status"] for k, t in two["tasks"].items() if "deploy" in k}
    assert ": cached (from run retrain-" in second.stdout
    assert two["seconds"] < one["seconds"], (one["seconds"], two["seconds"])
    model = Path(two["tasks"][TRAIN_TASK]["artifacts"]["model"]["uri"])
    assert model.is_relative_to(tmp_path / "a") and (model / "metrics.json").exists()
    assert Path(one["tasks"][TRAIN_TASK]["artifacts"]["model"]["uri"]) != model  # a copy

    # A run killed once its dataset is built leaves a record of what finished ...
    args = _retrain_args(tmp_path, "b", "reg-b", sample_csv, config, "2026-11-22T03:00:00Z")
    proc = subprocess.Popen(
        [sys.executable, "-m", *map(str, args)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 600
    record: dict[str, Any] = {}
    while time.monotonic() < deadline and proc.poll() is None:
        found = list((tmp_path / "b").glob("retrain-*/run.json"))
        if found:
            record = json.loads(found[0].read_text())
            if record["tasks"].get("build-dataset", {}).get("status") == "succeeded":
                break
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be killed"
    for pid in [proc.pid, *_descendants(proc.pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait()
    (killed,) = (tmp_path / "b").glob("retrain-*")
    record = _record(killed)
    assert record["status"] == "running" and TRAIN_TASK not in record["tasks"]

    # ... and resumes in place from train, with the parameters it was started with.
    resumed = run_cli("pipelines", "run", "--resume", str(killed))
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "[1/8] ingest: done before the resume" in resumed.stdout
    assert "[4/8] train: running" in resumed.stdout
    assert list((tmp_path / "b").glob("retrain-*")) == [killed]
    after = _record(killed)
    assert after["status"] == "succeeded" and after["arguments"] == record["arguments"]
    assert after["tasks"]["ingest"] == record["tasks"]["ingest"]  # reused, not rerun
    # The same artifacts as the uninterrupted run: the data byte for byte, the model's metrics.
    reference = sorted((tmp_path / "a").glob("retrain-*"))[0]
    for folder in DATA_FILES:
        assert _files(killed / folder) == _files(reference / folder), folder
    for name in ("records", "dead_letter", "near_duplicates"):
        # The reports name rows by the snapshot's file names, not the run folders': equal bytes.
        ours = _files(killed / "preprocess" / "records" / name)
        theirs = _files(reference / "preprocess" / "records" / name)
        assert ours == theirs, name
    train_dir = TRAIN_TASK.replace("/", "__")
    for name in ("metrics.json", "history.json"):
        ours_model = json.loads((killed / train_dir / "model" / name).read_text())
        theirs_model = json.loads((reference / train_dir / "model" / name).read_text())
        for measured in (ours_model, theirs_model):
            measured.pop("train_seconds", None)  # how long it took, not what it learned
        assert ours_model == theirs_model


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.integration
def test_argo_second_run_reuses_ingest_to_train(tmp_path: Path, sample_csv: Path) -> None:
    """The compiled Argo Workflow, run twice by the local Argo runner: the same reuse, with the
    caching option read from the templates' annotation."""
    config = small_config(tmp_path)
    records = []
    for when in ("2026-11-22T03:00:00Z", "2026-11-23T03:00:00Z"):
        args = _retrain_args(tmp_path, "runs", "registry", sample_csv, config, when)
        done = run_cli(*args, "--engine", "argo")
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        records.append(_record(sorted((tmp_path / "runs").glob("retrain-*"))[-1]))
    one, two = records
    assert two["engine"] == "argo"
    status = {k.split("/")[-1]: t["status"] for k, t in two["tasks"].items() if t["log"]}
    assert (status["ingest"], status["evaluate"], status["record"]) == ("succeeded",) * 3
    assert (status["preprocess"], status["dataset"], status["train"]) == ("cached",) * 3
    assert status.get("deploy") != "cached"
    assert two["seconds"] < one["seconds"], (one["seconds"], two["seconds"])
