"""Issue 19, point 5: runs started in the same second get their own folder (and so their own
output paths, job name and job id): run folders are created exclusively with a unique suffix."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import pytest

from pipelines.local.results import allocate_run_dir, run_uid

STAMP = "20261122-030000"  # every run below "started" in this one second


def test_threads_in_the_same_second_get_distinct_folders_and_ids(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    barrier = threading.Barrier(16)
    got: list[Path] = []
    lock = threading.Lock()

    def start() -> None:
        barrier.wait(timeout=30)
        folder = allocate_run_dir(runs, "retrain", STAMP)
        with lock:
            got.append(folder)

    threads = [threading.Thread(target=start) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(got) == 16 and len(set(got)) == 16
    assert all(p.is_dir() and not any(p.iterdir()) for p in got)  # new and empty
    assert all(p.name.startswith(f"retrain-{STAMP}-") for p in got)
    assert len({run_uid(p) for p in got}) == 16  # job ids (KFP job uuid, Argo workflow.uid)
    assert len({p.name for p in got}) == 16  # job names


def _allocate(runs: str, queue: multiprocessing.Queue) -> None:
    queue.put(str(allocate_run_dir(Path(runs), "retrain", STAMP)))


def test_processes_in_the_same_second_get_distinct_folders(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_allocate, args=(str(tmp_path), queue)) for _ in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    folders = [queue.get(timeout=10) for _ in procs]
    assert len(set(folders)) == 8 and all(Path(f).is_dir() for f in folders)


def test_a_taken_name_is_never_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Even when the random suffix repeats, the exclusive create moves on to another name."""
    import secrets

    suffixes = iter(["aaaaaa", "aaaaaa", "bbbbbb"])
    monkeypatch.setattr(secrets, "token_hex", lambda n: next(suffixes))
    first = allocate_run_dir(tmp_path, "retrain", STAMP)
    (first / "marker").write_text("mine")
    second = allocate_run_dir(tmp_path, "retrain", STAMP)
    assert first.name.endswith("-aaaaaa") and second.name.endswith("-bbbbbb")
    assert (first / "marker").read_text() == "mine"


def test_the_cli_allocates_its_folder_and_a_run_that_never_started_leaves_none(
    tmp_path: Path,
) -> None:
    from tests.conftest import run_cli

    result = run_cli(
        "pipelines", "run", "retrain", "--runs-dir", str(tmp_path / "runs"), "-p", "nope=1"
    )
    assert result.returncode != 0 and "nope" in result.stdout + result.stderr
    assert list((tmp_path / "runs").iterdir()) == []
