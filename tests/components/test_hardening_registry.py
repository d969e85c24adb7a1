"""Issue 19, points 1 and 2: pointer moves are compare-and-swap against the whole pointer read
(local folders and GCS alike), raced by many processes; every percent is checked where it enters.

The races fork real processes that run the CLIs' `main` (the same code path as
`python -m components.promote`), released together by a barrier so that they read the same
pointer; each trial must show no lost update, an upward-only share, and losers that exit 75
(retryable) having changed nothing.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from components.common import fs
from components.common.checks import Percent, check_percent
from components.common.config import Strict
from components.common.errors import EXIT_RETRYABLE, EXIT_USER_ERROR, ConfigError, ConflictError
from components.common.registry import Registry
from tests.components.test_deploy import BLESSED, deploy_args, fake_model
from tests.conftest import REPO, free_port, run_cli, tool

CONFIG = REPO / "config" / "reviews.yaml"
MODEL = "reviews-sentiment"
TRIALS = 25
RACERS = 6


def race(main: Callable[[Sequence[str]], int], argvs: list[list[str]], logs: Path) -> list[int]:
    """Fork one process per argv, release them together, run `main(argv)` in each; the exit
    codes (each process's stderr in logs/<i>.txt)."""
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(argvs))
    logs.mkdir(parents=True, exist_ok=True)

    def child(i: int, argv: list[str]) -> None:
        out = (logs / f"{i}.txt").open("w", buffering=1)
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
        sys.stdout = sys.stderr = out  # not pytest's capture of the parent
        barrier.wait(timeout=60)
        code = 1
        try:
            code = main(argv)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

    procs = [ctx.Process(target=child, args=(i, a)) for i, a in enumerate(argvs)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    codes = [p.exitcode for p in procs]
    assert all(isinstance(c, int) for c in codes), codes
    return [int(c) for c in codes if c is not None]


def log_of(logs: Path, i: int) -> str:
    return (logs / f"{i}.txt").read_text()


# ---- local folder races -------------------------------------------------------------------------
def registry_with_challenger(root: Path, percent: float = 10) -> Registry:
    registry = Registry(str(root), MODEL)
    for version in ("v1", "v2"):
        registry.publish(fake_model(root.parent / f"model-{version}") / "saved_model", version, {})
    registry.move("champion", "v1", "first", expect=None)
    registry.start_challenger("v2", percent, "test")
    return registry


def promote_argv(registry: Path | str, percent: float, manifest: Path) -> list[str]:
    return [
        "--ramp-percent",
        str(percent),
        "--config",
        str(CONFIG),
        "--registry-root",
        str(registry),
        "--manifest",
        str(manifest),
    ]


def check_ramp_trial(
    registry: Registry, base_generation: int, targets: list[float], codes: list[int], logs: Path
) -> None:
    """What a ramp race must leave: every move based on the one before (no lost update), the
    share only going up, winners' moves and nothing else in the history, losers retryable."""
    moves = [
        h
        for h in registry.history()
        if h["pointer"] == "challenger" and h["generation"] > base_generation
    ]
    generations = [m["generation"] for m in moves]
    assert generations == list(range(base_generation + 1, base_generation + 1 + len(moves)))
    shares = [m["percent"] for m in moves]
    assert shares == sorted(shares), f"the share went down: {shares}"
    winners = [t for t, c in zip(targets, codes, strict=True) if c == 0]
    assert sorted(shares) == sorted(winners), (shares, winners, codes)
    current = registry.challenger()
    assert current is not None
    assert current["generation"] == base_generation + len(moves)  # the last move stands
    for i, (target, code) in enumerate(zip(targets, codes, strict=True)):
        text = log_of(logs, i)
        assert code in (0, EXIT_RETRYABLE, EXIT_USER_ERROR), (code, text)
        if code == EXIT_RETRYABLE:
            assert "another writer moved it" in text and "Traceback" not in text, text
        if code == EXIT_USER_ERROR:  # read after a higher ramp: refused, as sequentially
            assert "would move units already in the challenger arm" in text, text
            assert target < current["percent"]


def test_racing_ramps_never_lose_an_update_nor_lower_the_share(tmp_path: Path) -> None:
    from components.promote.main import main

    rng = random.Random(19)
    registry = registry_with_challenger(tmp_path / "registry")
    conflicts = 0
    for trial in range(TRIALS):
        base = registry.read("challenger")
        assert base is not None
        fields = {k: base[k] for k in ("experiment", "salt", "champion", "started_utc")}
        base = registry.move("challenger", "v2", "reset", expect=base, percent=10, **fields)
        targets = [float(t) for t in rng.sample(range(11, 101), RACERS)]
        logs = tmp_path / f"trial-{trial}"
        argvs = [
            promote_argv(tmp_path / "registry", t, logs / f"isvc-{i}.yaml")
            for i, t in enumerate(targets)
        ]
        codes = race(main, argvs, logs)
        check_ramp_trial(registry, base["generation"], targets, codes, logs)
        conflicts += codes.count(EXIT_RETRYABLE)
        # The retry rule reruns the losers: each applies or is refused as lower; the share
        # ends at the highest request.
        for i, code in enumerate(codes):
            if code == EXIT_RETRYABLE:
                assert main(argvs[i]) in (0, EXIT_USER_ERROR)
        current = registry.challenger()
        assert current is not None and current["percent"] == max(targets)
    print(f"{conflicts} lost races (exit 75) in the trials")
    assert conflicts > 0, "no trial raced: the test did not exercise the compare-and-swap"


def deploy_argv(tmp: Path, name: str, registry: Path) -> tuple[list[str], Path, Path]:
    args = [str(a) for a in deploy_args(tmp, fake_model(tmp / f"model-{name}"), BLESSED)]
    manifest, record = tmp / f"isvc-{name}.yaml", tmp / f"record-{name}.json"
    args[args.index("--manifest") + 1] = str(manifest)
    args[args.index("--registry-root") + 1] = str(registry)
    return [*args, "--version", name, "--record", str(record)], manifest, record


def test_racing_deploys_one_wins_losers_change_nothing(tmp_path: Path) -> None:
    from components.deploy.main import main

    conflicts = 0
    for trial in range(TRIALS):
        # Even trials race into an empty registry (who becomes champion), odd ones beside a
        # champion (who becomes challenger).
        root = tmp_path / f"trial-{trial}"
        registry = Registry(str(root / "registry"), MODEL)
        if trial % 2:
            first, _, _ = deploy_argv(root, "v0", root / "registry")
            assert main(first) == 0
        before = len(registry.history())
        runs = [deploy_argv(root, f"v{trial}x{i}", root / "registry") for i in range(RACERS)]
        codes = race(main, [argv for argv, _, _ in runs], root / "logs")
        history = registry.history()[before:]
        winners = [i for i, c in enumerate(codes) if c == 0]
        assert winners, codes
        assert len(history) == len(winners)  # one move per winner, none by a loser
        moved = [h["version"] for h in history]
        assert sorted(moved) == sorted(runs[i][0][-3] for i in winners)
        for pointer in ("champion", "challenger"):
            gens = [h["generation"] for h in history if h["pointer"] == pointer]
            assert gens == sorted(gens) and len(set(gens)) == len(gens)
        for i, (code, (_, manifest, record)) in enumerate(zip(codes, runs, strict=True)):
            text = log_of(root / "logs", i)
            if code == 0:
                role = json.loads(record.read_text())["role"]
                (pointer,) = [h["pointer"] for h in history if h["version"] == runs[i][0][-3]]
                assert role == pointer  # what it reports is what it moved
                assert (role == "champion") == (
                    trial % 2 == 0 and history[0]["version"] == runs[i][0][-3]
                )
            else:
                assert code == EXIT_RETRYABLE, text
                assert "another writer moved it" in text and "Traceback" not in text, text
                assert not manifest.exists() and not record.exists()  # it wrote nothing
                conflicts += 1
        # Rerunning a loser (the retry rule) finds its own publish and moves the pointer.
        for i, code in enumerate(codes):
            if code == EXIT_RETRYABLE:
                argv, manifest, record = runs[i]
                assert main(argv) == 0
                assert json.loads(record.read_text())["role"] == "challenger"
                current = registry.challenger()
                assert current is not None and current["version"] == argv[-3]
    print(f"{conflicts} lost races (exit 75) in the trials")
    assert conflicts > 0, "no trial raced: the test did not exercise the compare-and-swap"


def test_a_stale_read_is_refused_whole_not_by_version(tmp_path: Path) -> None:
    """Same version, another share: a version-only compare would let this through."""
    registry = registry_with_challenger(tmp_path / "registry")
    stale = registry.read("challenger")
    assert stale is not None
    fields = {k: stale[k] for k in ("experiment", "salt", "champion", "started_utc")}
    registry.move("challenger", "v2", "ramp", expect=stale, percent=50, **fields)
    before = registry.history()
    with pytest.raises(ConflictError, match="another writer moved it"):
        registry.move("challenger", "v2", "late ramp", expect=stale, percent=20, **fields)
    assert registry.history() == before
    current = registry.challenger()
    assert current is not None and current["percent"] == 50


# ---- percents -----------------------------------------------------------------------------------
BAD_PERCENTS = ["nan", "inf", "-inf", "150", "-1", "100.5", "12.345"]


@pytest.mark.parametrize("value", BAD_PERCENTS)
def test_ramp_percent_flag_is_checked(tmp_path: Path, value: str) -> None:
    registry = registry_with_challenger(tmp_path / "registry")
    before = registry.read("challenger")
    result = run_cli(
        "components.promote",
        f"--ramp-percent={value}",
        *promote_argv(tmp_path / "registry", 0, tmp_path / "isvc.yaml")[2:],
    )
    assert result.returncode == EXIT_USER_ERROR, result.stderr
    assert "--ramp-percent" in result.stderr and "Traceback" not in result.stderr
    assert registry.read("challenger") == before


def test_percent_zero_is_valid_but_lowering_is_refused(tmp_path: Path) -> None:
    registry_with_challenger(tmp_path / "registry")
    down = run_cli(
        "components.promote", *promote_argv(tmp_path / "registry", 0, tmp_path / "isvc.yaml")
    )
    assert down.returncode == EXIT_USER_ERROR and "below the current" in down.stderr


@pytest.mark.parametrize("value", ["nan", "inf", "150", "-1", "1.234"])
def test_canary_percent_flag_is_checked(tmp_path: Path, value: str) -> None:
    args = [str(a) for a in deploy_args(tmp_path, fake_model(tmp_path / "m"), BLESSED)]
    args[args.index("--canary-percent") + 1] = value
    result = run_cli("components.deploy", *args, "--version", "v1")
    assert result.returncode == EXIT_USER_ERROR, result.stderr
    assert "--canary-percent" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "registry").exists()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 150, -1, 0.001, None, True])
def test_every_registry_writer_checks_its_percent(tmp_path: Path, value: Any) -> None:
    from components.common.model import ModelConfig
    from components.deploy.config import DeployConfig
    from components.deploy.deploy import deploy
    from components.promote.promote import ramp

    registry = registry_with_challenger(tmp_path / "registry")
    before = registry.history()
    model = fake_model(tmp_path / "m")
    calls: list[Callable[[], object]] = [
        lambda: registry.start_challenger("v2", value, "api"),
        lambda: registry.move(
            "challenger", "v2", "api", expect=registry.read("challenger"), percent=value
        ),
        lambda: ramp(registry, value),
        lambda: deploy(
            model,
            BLESSED,
            ModelConfig(name=MODEL),
            DeployConfig(),
            str(tmp_path / "registry"),
            value,
            tmp_path / "isvc.yaml",
            "v9",
        ),
    ]
    for call in calls:
        with pytest.raises(ConfigError, match="percent"):
            call()
    assert registry.history() == before
    assert "v9" not in registry.versions()


def test_check_percent_and_the_config_type() -> None:
    assert check_percent("50", "x") == 50.0 and check_percent(0, "x") == 0.0
    assert check_percent(100, "x") == 100.0 and check_percent(12.34, "x") == 12.34

    class Section(Strict):
        canary: Percent = 10

    assert Section.model_validate({"canary": 25}).canary == 25
    for bad in ("nan", float("inf"), 150, -1):
        with pytest.raises(ValueError, match="canary"):
            Section.model_validate({"canary": bad})


# ---- GCS: the same race against an emulator that enforces generation preconditions --------------
@pytest.fixture(scope="module")
def fake_gcs() -> Iterator[dict[str, str]]:
    """fake-gcs-server (the tool shelf), which answers 412 to an upload whose
    if_generation_match no longer holds, as GCS does; the gcp-storage-emulator of
    tests/test_gcs.py ignores preconditions."""
    binary = tool("fake-gcs-server")
    port = free_port()
    proc = subprocess.Popen(
        [
            str(binary),
            "-scheme",
            "http",
            "-host",
            "127.0.0.1",
            "-port",
            str(port),
            "-backend",
            "memory",
            "-public-host",
            f"127.0.0.1:{port}",
            "-external-url",
            f"http://127.0.0.1:{port}",
            "-log-level",
            "error",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = {"STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{port}", "GOOGLE_CLOUD_PROJECT": "test"}
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(project="test", credentials=AnonymousCredentials())
    client._connection.API_BASE_URL = env["STORAGE_EMULATOR_HOST"]
    deadline = time.monotonic() + 30
    while True:
        try:
            client.create_bucket("models")
            break
        except Exception:
            assert proc.poll() is None, "fake-gcs-server exited"
            assert time.monotonic() < deadline, "fake-gcs-server did not start in 30 s"
            time.sleep(0.2)
    try:
        yield env
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.integration
@pytest.mark.tools
def test_racing_ramps_on_gcs(
    fake_gcs: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.api_core.exceptions import PreconditionFailed
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from components.promote.main import main

    for name, value in fake_gcs.items():
        monkeypatch.setenv(name, value)
    # Imported once here, not in every forked racer (Beam's import takes seconds); the parent
    # opens no Beam connection, so each racer opens its own.
    import apache_beam.io.gcp.gcsio  # noqa: F401

    fs.beam_filesystems()
    client = storage.Client(project="test", credentials=AnonymousCredentials())
    bucket = client.bucket("models")
    prefix = f"registry/{MODEL}"
    # The versions as a publish leaves them (written here with the client: this test is about
    # the pointers), and the emulator's own word that a stale precondition is refused.
    for version in ("v1", "v2"):
        bucket.blob(f"{prefix}/versions/{version}/_COMMITTED").upload_from_string("t\n")
    probe = bucket.blob(f"{prefix}/probe")
    probe.upload_from_string("a", if_generation_match=0)
    with pytest.raises(PreconditionFailed):
        probe.upload_from_string("b", if_generation_match=0)

    def history() -> list[dict[str, Any]]:
        blobs = sorted(
            client.list_blobs("models", prefix=f"{prefix}/history/"), key=lambda b: b.name
        )
        return [json.loads(b.download_as_bytes()) for b in blobs]

    def pointer(name: str) -> dict[str, Any] | None:
        blob = bucket.get_blob(f"{prefix}/{name}.json")
        return json.loads(blob.download_as_bytes()) if blob else None

    def set_challenger(percent: float) -> dict[str, Any]:
        current = pointer("challenger")
        doc = {
            "version": "v2",
            "previous": "v2" if current else None,
            "generation": (current or {}).get("generation", 0) + 1,
            "moved_utc": "2026-12-01T00:00:00Z",
            "reason": "reset",
            "percent": percent,
            "experiment": MODEL,
            "salt": "v2",
            "champion": "v1",
            "started_utc": "2026-12-01T00:00:00Z",
        }
        bucket.blob(f"{prefix}/challenger.json").upload_from_string(json.dumps(doc))
        return doc

    champion = {"version": "v1", "previous": None, "generation": 1, "moved_utc": "x", "reason": "t"}
    bucket.blob(f"{prefix}/champion.json").upload_from_string(json.dumps(champion))
    rng = random.Random(1919)
    conflicts = 0
    racers = 4
    for trial in range(20):
        base = set_challenger(10)
        seen = len(history())
        targets = [float(t) for t in rng.sample(range(11, 101), racers)]
        logs = tmp_path / f"trial-{trial}"
        argvs = [
            promote_argv("gs://models/registry", t, logs / f"isvc-{i}.yaml")
            for i, t in enumerate(targets)
        ]
        codes = race(main, argvs, logs)
        moves = [h for h in history()[seen:] if h["pointer"] == "challenger"]
        generations = [m["generation"] for m in moves]
        first = base["generation"] + 1
        assert generations == list(range(first, first + len(moves))), (generations, codes)
        shares = [m["percent"] for m in moves]
        assert shares == sorted(shares), f"the share went down: {shares}"
        assert sorted(shares) == sorted(t for t, c in zip(targets, codes, strict=True) if c == 0)
        current = pointer("challenger")
        assert current is not None and current["generation"] == first - 1 + len(moves)
        for i, code in enumerate(codes):
            text = log_of(logs, i)
            assert code in (0, EXIT_RETRYABLE, EXIT_USER_ERROR), text
            if code == EXIT_RETRYABLE:
                assert "another writer moved it" in text and "Traceback" not in text, text
                conflicts += 1
            if code == EXIT_USER_ERROR:
                assert "would move units already" in text and targets[i] < current["percent"]
    print(f"{conflicts} lost races (exit 75) in the trials")
    assert conflicts > 0, "no trial raced: the test did not exercise the compare-and-swap"
