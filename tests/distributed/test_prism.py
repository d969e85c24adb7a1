"""The Beam steps on a real portable runner: Beam's Prism job server (built from Beam's Go module
by `make tools`), the SDK workers in our images (scripts/prism.py), gs:// on a GCS emulator.

The preprocess and dataset steps read the raw snapshot from gs:// and write their outputs there
through Beam's FileSystems, from the workers; the outputs are byte-identical to those of the
in-process runner, with the same counts. A launcher killed mid-job leaves no output a reader
sees, and the rerun gives the same bytes. `make test-distributed` builds the images first.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.local.containers import BUILT, engine_answers
from tests.conftest import REPO, free_port, tool
from tests.test_gcs import cli, create_buckets, start_emulator

pytestmark = pytest.mark.distributed
sys.path.insert(0, str(REPO / "scripts"))
import prism  # noqa: E402

CONFIG = REPO / "config" / "reviews.yaml"
BUCKET = "data"


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory, sample_csv: Path) -> Iterator[dict]:
    """Prism up, a GCS emulator on the Docker bridge, the sample's raw snapshot on gs://."""
    why = engine_answers()
    if why:
        pytest.skip(f"needs a Docker engine: {why}")
    if not (REPO / BUILT).exists():
        pytest.skip(f"needs the images: {BUILT} is missing; run `make images`")
    tool("prism")
    emulator, env = start_emulator(prism.bridge_gateway())
    job_port = free_port()
    saved = dict(os.environ)
    os.environ.update(env)  # the worker pools get the emulator's address (prism.ENV_PASSED)
    try:
        create_buckets(env, BUCKET)
        prism.up(job_port)
        raw = tmp_path_factory.mktemp("raw") / "raw"
        ingest = cli(env, "components.ingest", "--source", sample_csv, "--output", raw)
        assert ingest.returncode == 0, ingest.stderr[-2000:]
        from components.common import fs

        fs.upload_tree(raw, f"gs://{BUCKET}/raw")
        yield {"env": env, "job_port": job_port}
    finally:
        prism.down()
        os.environ.clear()
        os.environ.update(saved)
        emulator.terminate()
        emulator.wait(timeout=10)


def on_prism(runner: dict, name: str) -> list[str]:
    return ["--beam-options", " ".join(prism.beam_options(name, runner["job_port"]))]


def _tree(env: dict[str, str], uri: str) -> dict[str, bytes]:
    code = (
        "import json, sys\n"
        "from components.common import fs\n"
        "prefix = sys.argv[1].rstrip('/') + '/'\n"
        "out = {}\n"
        "for f in fs.files_under(sys.argv[1]):\n"
        "    with fs.open_read_raw(f) as h:\n"
        "        out[f[len(prefix):]] = h.read().hex()\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, uri], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return {k: bytes.fromhex(v) for k, v in json.loads(done.stdout).items()}


def run_both(runner: dict, tag: str, *, prism_run: bool) -> dict[str, dict[str, bytes]]:
    env, base = runner["env"], f"gs://{BUCKET}/{tag}"
    preprocess = cli(
        env,
        "components.preprocess",
        "--raw",
        f"gs://{BUCKET}/raw",
        "--config",
        CONFIG,
        "--output",
        f"{base}/records",
        *(on_prism(runner, "preprocess") if prism_run else []),
    )
    assert preprocess.returncode == 0, preprocess.stderr[-3000:]
    dataset = cli(
        env,
        "components.dataset",
        "--records",
        f"{base}/records",
        "--config",
        CONFIG,
        "--output",
        f"{base}/dataset",
        *(on_prism(runner, "dataset") if prism_run else []),
    )
    assert dataset.returncode == 0, dataset.stderr[-3000:]
    if prism_run:  # the jobs ran on the job server, not in the launcher
        assert "pipeline completed job-" in preprocess.stderr, preprocess.stderr[-2000:]
        assert "pipeline completed job-" in dataset.stderr, dataset.stderr[-2000:]
    return {name: _tree(env, f"{base}/{name}") for name in ("records", "dataset")}


@pytest.fixture(scope="module")
def in_process(runner: dict) -> dict[str, dict[str, bytes]]:
    return run_both(runner, "in-process", prism_run=False)


def test_prism_outputs_are_byte_identical_to_the_in_process_runner(
    runner: dict, in_process: dict[str, dict[str, bytes]]
) -> None:
    on_prism_ = run_both(runner, "prism", prism_run=True)
    for name in ("records", "dataset"):
        assert sorted(on_prism_[name]) == sorted(in_process[name]), name
        differ = [f for f in in_process[name] if on_prism_[name][f] != in_process[name][f]]
        assert not differ, f"{name}: files differ between the runners: {differ}"
    stats = json.loads(on_prism_["records"]["stats.json"])
    assert stats["reconciled"] and stats["rows_in"] == 1159 and stats["dead_letter"] >= 1
    assert any(f.startswith("dead_letter/part-") for f in on_prism_["records"])
    assert any(f.startswith("train/part-") for f in on_prism_["dataset"])
    # Nothing but /tmp was writable in the workers' containers, and no folder of this machine
    # was mounted in them: the outputs can only have come through the workers' FileSystems.
    for name, (family, _) in prism.POOLS.items():
        info = json.loads(prism.docker("inspect", name).stdout)[0]
        assert info["Mounts"] == [] and info["HostConfig"]["ReadonlyRootfs"], name
        assert info["Config"]["Image"] == prism.images()[family], name


def test_a_killed_job_leaves_no_output_and_the_rerun_the_same_bytes(
    runner: dict, in_process: dict[str, dict[str, bytes]]
) -> None:
    env, target = runner["env"], f"gs://{BUCKET}/killed/records"
    args = [
        sys.executable,
        "-m",
        "components.preprocess",
        "--raw",
        f"gs://{BUCKET}/raw",
        "--config",
        str(CONFIG),
        "--output",
        target,
        *on_prism(runner, "preprocess"),
    ]
    launcher = subprocess.Popen(
        args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert launcher.stdout is not None
    for line in launcher.stdout:  # kill it once the job server runs the job
        if "running job-" in line:
            break
    launcher.send_signal(signal.SIGKILL)
    launcher.wait(timeout=30)
    time.sleep(5)  # the job server may go on with the job: its output stays staged, unseen
    assert _tree(env, target) == {}, "a killed job left objects under its output"
    rerun = cli(env, *args[2:])
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert _tree(env, target) == in_process["records"]
