"""Container mode's `docker run` wrapper, without an engine: the image chosen for a manifest's
reference, the pod settings, what is mounted, and the errors that say what to do."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipelines import ir
from pipelines.local.containers import IMAGE_USER, ContainerMode

REGISTRY = "us-central1-docker.pkg.dev/p/r"


def mode(tmp_path: Path) -> ContainerMode:
    images = {
        "retrain-beam": {"ref": "retrain-beam:abc", "digest": "sha256:" + "b" * 64},
        "retrain-tf": {"ref": "retrain-tf:abc", "digest": "sha256:" + "f" * 64},
    }
    return ContainerMode(images, [tmp_path / "run", tmp_path / "gcs"])


def test_manifest_reference_maps_to_the_local_build(tmp_path: Path) -> None:
    m = mode(tmp_path)
    assert m.image_for(f"{REGISTRY}/retrain-beam:0.1.0") == "retrain-beam:abc"
    assert m.image_for(f"{REGISTRY}/retrain-tf@sha256:{'f' * 64}") == "retrain-tf:abc"
    # The GPU image is not built here: its tasks run in the CPU twin, and the run says so once.
    assert m.image_for(f"{REGISTRY}/retrain-tf-gpu:0.1.0") == "retrain-tf:abc"
    assert m.notes == ["retrain-tf-gpu was not built here; its tasks run in retrain-tf:abc (CPU)"]


def test_stale_digest_and_unknown_image_are_clear_errors(tmp_path: Path) -> None:
    m = mode(tmp_path)
    with pytest.raises(ir.IRError, match=r"run `make compile` after `make images`"):
        m.image_for(f"{REGISTRY}/retrain-tf@sha256:{'0' * 64}")
    with pytest.raises(ir.IRError, match=r"no local image for .*retrain-other.*make images"):
        m.image_for(f"{REGISTRY}/retrain-other:1")


def test_docker_run_has_the_pod_settings_and_same_path_mounts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a\n")
    m = mode(tmp_path)
    argv = m.argv(
        f"{REGISTRY}/retrain-beam:0.1.0",
        ["python", "-m", "components.ingest", "--source", str(data)],
        {"B": "2", "A": "1"},
        {"source": str(data), "glob": f"{tmp_path}/in/*.csv", "out": "/nowhere/registry", "n": 3},
    )
    assert argv[:3] == ["docker", "run", "--rm"]
    assert f"--user={IMAGE_USER}" in argv
    for flag in ("--read-only", "--tmpfs=/tmp:rw,exec", "--cap-drop=ALL"):
        assert flag in argv
    assert "--security-opt=no-new-privileges" in argv
    run, gcs = tmp_path / "run", tmp_path / "gcs"
    assert f"--volume={run}:{run}" in argv and f"--volume={gcs}:{gcs}" in argv
    assert f"--volume={data}:{data}:ro" in argv  # an existing input, read-only
    assert f"--volume={tmp_path}:{tmp_path}:ro" in argv  # a glob: the folder above it
    assert argv.index("--env=A=1") < argv.index("--env=B=2")  # only the declared env, sorted
    assert argv[argv.index("retrain-beam:abc") + 1 :] == [
        "python",
        "-m",
        "components.ingest",
        "--source",
        str(data),
    ]
    assert "/nowhere/registry does not exist and is on no mount" in capsys.readouterr().out


def test_from_build_without_a_build_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ir.IRError, match=r"build the images first \(`make images`"):
        ContainerMode.from_build(tmp_path / "images.json", [tmp_path], docker="sh")
    with pytest.raises(ir.IRError, match=r"needs the 'no-such-docker' command on PATH"):
        ContainerMode.from_build(tmp_path / "images.json", [tmp_path], docker="no-such-docker")


def test_container_mode_hands_tasks_absolute_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--runs-dir runs` (the default) is relative; inside a container the working directory is
    the image's /app, so every path a task gets must be absolute."""
    from pipelines.local.kfp import LocalRunner

    monkeypatch.chdir(tmp_path)
    spec = {"root": {"dag": {"tasks": {}}}, "components": {}, "deploymentSpec": {}}
    boxed = LocalRunner(spec, Path("runs/r1"), {}, cwd=tmp_path, containers=mode(tmp_path))
    assert boxed.run_dir == tmp_path / "runs" / "r1"
    plain = LocalRunner(spec, Path("runs/r1"), {}, cwd=tmp_path)
    assert plain.run_dir == Path("runs/r1")


@pytest.mark.skipif(os.getuid() != 0, reason="ownership is only changed when running as root")
def test_prepare_hands_over_the_mounts_once_then_each_new_task_folder(tmp_path: Path) -> None:
    m = mode(tmp_path)
    first = tmp_path / "run" / "ingest"
    first.mkdir(parents=True)
    m.prepare(first)
    assert all(p.stat().st_uid == 10001 for p in (tmp_path / "run", tmp_path / "gcs", first))
    untouched = tmp_path / "gcs" / "made-by-root"
    untouched.mkdir()
    second = tmp_path / "run" / "train" / "_kfp"
    second.mkdir(parents=True)
    m.prepare(second.parent)
    assert second.stat().st_uid == 10001 and second.parent.stat().st_uid == 10001
    assert untouched.stat().st_uid == 0  # the full pass ran once, not before every task
