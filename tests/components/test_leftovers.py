"""Leftovers of killed steps: staging folders older than a day are removed by the next run of the
step that owns them (fs.staged_dir, the registry's publish), never a live one; and a bad section
of the config fails the first step in seconds, not the step that reads it minutes later."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from components.common import fs
from components.common.registry import Registry
from tests.conftest import REPO, run_cli

TWO_DAYS = 2 * 24 * 3600


def age(path: Path, seconds: float) -> None:
    """Set a folder's mtime `seconds` into the past."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def holder(stage_of: str, ready: Path) -> subprocess.Popen[bytes]:
    """A process inside fs.staged_dir (a live step): it signals `ready`, then waits to be
    killed."""
    code = (
        "import sys, time; from pathlib import Path; from components.common import fs\n"
        f"with fs.staged_dir(Path({stage_of!r})) as stage:\n"
        "    (stage / 'part').write_text('x')\n"
        f"    Path({str(ready)!r}).write_text(str(stage))\n"
        "    time.sleep(600)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO)
    for _ in range(600):
        if ready.exists():
            return proc
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the holder never entered staged_dir")


def test_killed_steps_staging_is_removed_live_and_fresh_ones_kept(tmp_path: Path) -> None:
    out = tmp_path / "task" / "records"
    # A step killed two days ago (SIGKILL: no cleanup ran), its staging folder aged.
    killed = holder(str(out), tmp_path / "killed")
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    old = Path((tmp_path / "killed").read_text())
    assert old.is_dir()
    age(old, TWO_DAYS)
    # A step still running after two days (its folder as old, but its lock held).
    live = holder(str(out), tmp_path / "live")
    try:
        running = Path((tmp_path / "live").read_text())
        age(running, TWO_DAYS)
        # A step killed a minute ago: younger than a day, kept whatever its lock says.
        fresh = out.parent / f".{out.name}.staging-fresh"
        fresh.mkdir()
        other = out.parent / ".other.staging-1"  # another output's: not this one's to remove
        other.mkdir()
        age(other, TWO_DAYS)
        with fs.staged_dir(out) as stage:
            (stage / "part").write_text("new")
        assert (out / "part").read_text() == "new"
        assert not old.exists()
        assert running.is_dir() and (running / "part").exists()
        assert fresh.is_dir() and other.is_dir()
    finally:
        live.kill()
        live.wait()
    # Now that the running step died too, the next run removes its folder.
    with fs.staged_dir(out):
        pass
    assert not running.exists() and fresh.is_dir()


def test_old_trash_is_removed_only_beside_a_published_output(tmp_path: Path) -> None:
    """An `.old-` folder is the previous output moved aside; killed before the new one took its
    place, it is the only copy, so it is kept until an output is in place again."""
    out = tmp_path / "raw"
    trash = tmp_path / ".raw.old-1234"
    trash.mkdir()
    age(trash, TWO_DAYS)
    with fs.staged_dir(out):
        pass
    assert trash.is_dir()  # `out` did not exist before this run
    with fs.staged_dir(out):
        pass
    assert not trash.exists()


def test_registry_publish_removes_stale_staging(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "saved_model.pb").write_bytes(b"x" * 1000)
    registry = Registry(str(tmp_path / "registry"), "m")
    staging = tmp_path / "registry" / "m" / ".staging"
    killed = staging / "v1-dead0001"
    (killed / "model").mkdir(parents=True)
    age(killed, TWO_DAYS)
    fresh = staging / "v1-fresh001"
    fresh.mkdir()
    registry.publish(model, "v1", {})
    assert not killed.exists() and fresh.is_dir()
    assert registry.versions() == ["v1"]


def test_remove_stale_keeps_what_is_younger_than_a_day(tmp_path: Path) -> None:
    leftover = tmp_path / ".x.staging-1"
    leftover.mkdir()
    age(leftover, 23 * 3600)
    assert fs.remove_stale(tmp_path, ".x.staging-*") == []
    age(leftover, 25 * 3600)
    assert fs.remove_stale(tmp_path, ".x.staging-*") == [leftover]


# ---- every config section checked by the first step ------------------------------------


def bad_config(tmp_path: Path, section: str, key: str, value: object) -> Path:
    config = yaml.safe_load((REPO / "config" / "reviews.yaml").read_text())
    config[section][key] = value
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def ingest(tmp_path: Path, config: Path) -> subprocess.CompletedProcess[str]:
    src = tmp_path / "reviews.csv"
    src.write_text("category,text,movie_name\nfresh,good,M\n")
    return run_cli(
        "components.ingest",
        "--source",
        str(src),
        "--output",
        str(tmp_path / "raw"),
        "--config",
        str(config),
    )


def test_a_bad_train_section_fails_ingest_naming_section_and_field(tmp_path: Path) -> None:
    config = bad_config(tmp_path, "train", "epochs", "many")
    started = time.perf_counter()
    result = ingest(tmp_path, config)
    seconds = time.perf_counter() - started
    assert result.returncode == 2, result.stderr
    assert f"{config}: train.epochs:" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "raw").exists()
    assert seconds < 30, seconds  # seconds, not the minutes until train would have run


def test_every_section_is_checked_and_unknown_sections_are_named(tmp_path: Path) -> None:
    for section, key, value, expected in (
        ("dataset", "splits", {"train": 80}, "dataset: Value error, splits must"),
        ("evaluate", "no_such_key", 1, "evaluate.no_such_key"),
        ("abtest", "alpha", 0.9, "abtest.alpha"),
        ("model", "name", "Not A DNS Label", "model.name"),
    ):
        result = ingest(tmp_path, bad_config(tmp_path, section, key, value))
        assert result.returncode == 2, (section, result.stderr)
        assert expected in result.stderr, (section, result.stderr)
    config = yaml.safe_load((REPO / "config" / "reviews.yaml").read_text())
    config["trian"] = config.pop("train")
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(config))
    result = ingest(tmp_path, path)
    assert result.returncode == 2
    assert "unknown section(s) ['trian']" in result.stderr


def test_validating_every_section_imports_no_tensorflow_or_beam() -> None:
    code = (
        "import sys, time\n"
        "t = time.perf_counter()\n"
        "from components.common.config import validate_all\n"
        "validate_all('config/reviews.yaml'); validate_all('config/adult.yaml')\n"
        "print(time.perf_counter() - t)\n"
        "heavy = [m for m in ('tensorflow', 'apache_beam', 'keras', 'sklearn') "
        "if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    print(f"validate_all of both shipped configs: {float(result.stdout):.2f} s")
