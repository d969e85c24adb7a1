"""Backfill: the schedule's times in a range, minus those with a succeeded (or running) run,
each run once; a second backfill of the same range runs nothing."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipelines import __main__ as cli
from pipelines.catalog import Schedule
from pipelines.local.results import allocate_run_dir, write_record
from pipelines.ops import backfill as bf


def _record(runs: Path, when: str, status: str) -> Path:
    """A run record as the local runner writes it (a running one carries this process's pid)."""
    run_dir = allocate_run_dir(runs, "retrain")
    return write_record(
        run_dir,
        "retrain",
        {},
        {},
        status,
        "20261101T000000Z",
        1.0,
        resume={"manifest_sha256": "x", "options": {"scheduled_time": when}},
    )


def test_schedule_times_are_inclusive_in_utc_and_follow_the_time_zone() -> None:
    daily = Schedule("0 3 * * *")
    times = bf.schedule_times(
        daily,
        bf.parse_time("2026-11-02T03:00:00Z", "x"),
        bf.parse_time("2026-11-04T03:00:00Z", "y"),
    )
    assert [bf.rfc3339(t) for t in times] == [
        "2026-11-02T03:00:00Z",
        "2026-11-03T03:00:00Z",
        "2026-11-04T03:00:00Z",
    ]
    berlin = Schedule("0 3 * * *", "Europe/Berlin")  # summer time ends on 2026-10-25
    times = bf.schedule_times(
        berlin, bf.parse_time("2026-10-24", "x"), bf.parse_time("2026-10-26T12:00:00Z", "y")
    )
    assert [bf.rfc3339(t) for t in times] == [
        "2026-10-24T01:00:00Z",
        "2026-10-25T02:00:00Z",
        "2026-10-26T02:00:00Z",
    ]


def test_bad_ranges_and_crons_say_what_to_fix() -> None:
    start, end = bf.parse_time("2026-11-02", "x"), bf.parse_time("2026-11-01", "y")
    with pytest.raises(bf.BackfillError, match="before --from"):
        bf.schedule_times(Schedule("0 3 * * *"), start, end)
    with pytest.raises(bf.BackfillError, match="cron '61 3"):
        bf.schedule_times(Schedule("61 3 * * *"), end, start)
    with pytest.raises(bf.BackfillError, match="more than 1000 times"):
        bf.schedule_times(
            Schedule("* * * * *"),
            bf.parse_time("2026-01-01", "x"),
            bf.parse_time("2026-02-01", "y"),
        )
    with pytest.raises(bf.BackfillError, match="--from 'yesterday': expected an RFC 3339"):
        bf.parse_time("yesterday", "--from")
    with pytest.raises(bf.BackfillError, match="has no schedule"):
        bf.schedule_of("nope")


def test_local_runs_split_succeeded_running_and_failed(tmp_path: Path) -> None:
    _record(tmp_path, "2026-11-02T03:00:00Z", "succeeded")
    _record(tmp_path, "2026-11-03T03:00:00+00:00", "failed")
    _record(tmp_path, "2026-11-04T03:00:00Z", "running")  # this process: alive
    (allocate_run_dir(tmp_path, "retrain") / "run.json").write_text("{not json")
    done, running = bf.local_runs(tmp_path, "retrain")
    assert done == {datetime(2026, 11, 2, 3, tzinfo=UTC)}
    assert running == {datetime(2026, 11, 4, 3, tzinfo=UTC)}


def test_argo_runs_read_the_cron_label_annotation_and_phase() -> None:
    def wf(name: str, when: str, phase: str | None, cron: str = "retrain") -> dict:
        return {
            "metadata": {
                "name": name,
                "labels": {bf.CRON_LABEL: cron},
                "annotations": {bf.SCHEDULED_TIME_ANNOTATION: when},
            },
            "status": {"phase": phase} if phase else {},
        }

    listing = {
        "items": [
            wf("a", "2026-11-02T03:00:00Z", "Succeeded"),
            wf("b", "2026-11-03T03:00:00Z", "Failed"),
            wf("c", "2026-11-04T03:00:00Z", None),
            wf("d", "2026-11-05T03:00:00Z", "Succeeded", cron="ab-readout"),
        ]
    }
    done, running = bf.argo_runs(listing, "retrain")
    assert done == {datetime(2026, 11, 2, 3, tzinfo=UTC)}
    assert running == {datetime(2026, 11, 4, 3, tzinfo=UTC)}


class FakeRun:
    """Stands in for `python -m pipelines run` (minutes each): records the run as the runner
    does (allocate_run_dir + write_record with the scheduled time) and exits 0, or 1 for the
    times in `fail`."""

    def __init__(self, runs: Path, fail: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.runs, self.fail, self.calls = runs, fail, []
        self.lock = threading.Lock()

    def __call__(self, cmd: list[str]) -> int:
        when = cmd[cmd.index("--scheduled-time") + 1]
        with self.lock:
            self.calls.append(when)
        status = "failed" if when in self.fail else "succeeded"
        _record(self.runs, when, status)
        return 1 if when in self.fail else 0


def _backfill(tmp_path: Path, monkeypatch, fake: FakeRun, *extra: str) -> int:
    monkeypatch.setattr(bf, "_subprocess", fake)
    argv = ["backfill", "retrain", "--from", "2026-11-01", "--to", "2026-11-05T00:00:00Z"]
    return cli.main([*argv, "--runs-dir", str(tmp_path), *extra])


def test_two_missing_times_run_once_and_a_second_backfill_runs_none(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    # 4 daily times in range; two already succeeded.
    _record(tmp_path, "2026-11-01T03:00:00Z", "succeeded")
    _record(tmp_path, "2026-11-03T03:00:00Z", "succeeded")
    fake = FakeRun(tmp_path)
    assert _backfill(tmp_path, monkeypatch, fake, "--parallel", "2") == 0
    assert sorted(fake.calls) == ["2026-11-02T03:00:00Z", "2026-11-04T03:00:00Z"]
    assert (
        "4 scheduled time(s), 2 already succeeded, 0 in flight, 2 to run" in capsys.readouterr().out
    )
    again = FakeRun(tmp_path)
    assert _backfill(tmp_path, monkeypatch, again) == 0
    assert again.calls == []
    assert "4 already succeeded, 0 in flight, 0 to run" in capsys.readouterr().out


def test_a_failed_time_fails_the_backfill_and_is_retried_next_time(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    fake = FakeRun(tmp_path, fail={"2026-11-02T03:00:00Z"})
    assert _backfill(tmp_path, monkeypatch, fake) == 1
    assert len(fake.calls) == 4
    assert "failed: 2026-11-02T03:00:00Z (run the backfill again" in capsys.readouterr().out
    retry = FakeRun(tmp_path)
    assert _backfill(tmp_path, monkeypatch, retry) == 0
    assert retry.calls == ["2026-11-02T03:00:00Z"]


def test_dry_run_and_argo_target_print_the_commands_and_run_nothing(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    fake = FakeRun(tmp_path)
    assert _backfill(tmp_path, monkeypatch, fake, "--dry-run", "-p", "window_days=1") == 0
    assert fake.calls == []
    out = capsys.readouterr().out
    assert "--scheduled-time 2026-11-02T03:00:00Z" in out and "-p window_days=1" in out
    assert "-p reason=backfill" in out  # each run's record says why it ran
    assert _backfill(tmp_path, monkeypatch, fake, "--target", "argo", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "argo submit --from cronwf/retrain --namespace" in out
    assert "--scheduled-time 2026-11-04T03:00:00Z --wait -p reason=backfill" in out
    assert fake.calls == []


def test_a_misspelt_parameter_and_a_concurrent_backfill_are_refused(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    fake = FakeRun(tmp_path)
    assert _backfill(tmp_path, monkeypatch, fake, "-p", "window_dayz=1") == 2
    assert "did you mean 'window_days'" in capsys.readouterr().err
    with bf.exclusive(tmp_path, "retrain"):
        assert _backfill(tmp_path, monkeypatch, fake) == 75
    assert "another backfill of retrain is running" in capsys.readouterr().err
    assert fake.calls == []
