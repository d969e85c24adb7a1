"""The image family as built by `make images`: non-root users, each component's CLI inside its
image, and the retraining DAG with every task in a container against the subprocess mode.

These need a Docker engine and the images of build/images.json; where either is missing they
skip saying which (`make test-containers` builds the images first, `make e2e-containers` runs the
full DAG this way).
"""

from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from pipelines.local.containers import BUILT, engine_answers
from tests.conftest import REPO, STEPS, TRAIN_TASK, run_artifact, run_retrain, small_config

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def built() -> dict:
    why = engine_answers()
    if why:
        pytest.skip(f"needs a Docker engine: {why}")
    path = REPO / BUILT
    if not path.exists():
        pytest.skip(f"needs the images: {path} is missing; run `make images`")
    images = json.loads(path.read_text())
    missing = [
        b["ref"]
        for b in images.values()
        if subprocess.run(["docker", "image", "inspect", b["ref"]], capture_output=True).returncode
    ]
    if missing:
        pytest.skip(f"images of {path} are gone from the engine: {missing}; run `make images`")
    return dict(images)


def _inspect(ref: str) -> dict:
    out = subprocess.run(
        ["docker", "image", "inspect", ref], capture_output=True, text=True, check=True
    )
    return dict(json.loads(out.stdout)[0])


def test_every_cpu_image_was_built_and_pinned(built: dict) -> None:
    assert {"base", "beam", "tf"} <= set(built)
    families = yaml.safe_load((REPO / "components" / "images.yaml").read_text())
    for family, build in built.items():
        assert build["ref"].split(":")[0] == families["families"][family]
        if build["digest"]:  # published: images.yaml records the same registry and digest
            assert families["published"]["registry"] == build["registry"], family
            assert families["published"]["digests"][family] == build["digest"], family


def test_no_image_runs_as_root(built: dict) -> None:
    for family, build in built.items():
        user = _inspect(build["ref"])["Config"]["User"]
        assert user and user.split(":")[0] not in ("0", "root"), (family, user)
        out = subprocess.run(
            ["docker", "run", "--rm", build["ref"], "id", "-u"], capture_output=True, text=True
        )
        assert out.returncode == 0 and out.stdout.strip() != "0", (family, out)


@pytest.mark.parametrize("name", STEPS)
def test_component_help_runs_in_its_image(built: dict, name: str) -> None:
    """The CLI each manifest runs answers --help inside the image of its family (train: the GPU
    family's CPU twin where the GPU image is not built)."""
    import importlib

    family = importlib.import_module(f"components.{name}.component").FAMILY
    build = built.get(family) or built[family.removesuffix("-gpu")]
    command = ["python", "-m", f"components.{name}", "--help"]
    out = subprocess.run(
        ["docker", "run", "--rm", "--read-only", build["ref"], *command],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"python -m components.{name}" in out.stdout


@pytest.mark.integration
def test_pipeline_in_containers_matches_subprocesses(
    built: dict, tmp_path: Path, sample_csv: Path
) -> None:
    """The same compiled IR, once with every task in its image and once as subprocesses: the
    same tasks succeed, the dataset splits are byte-identical, the metrics agree within 0.02."""
    config = small_config(tmp_path)
    # gs:// registries, as by default: they land in the local-gcs folder, which is mounted.
    local = run_retrain(
        tmp_path, "subprocess", sample_csv, config, registry="gs://models-a/registry"
    )
    boxed = run_retrain(
        tmp_path,
        "containers",
        sample_csv,
        config,
        "--containers",
        registry="gs://models-b/registry",
    )
    statuses = [{k: v["status"] for k, v in r["tasks"].items()} for r in (local, boxed)]
    assert statuses[0] == statuses[1]
    assert statuses[1]["evaluate"] == "succeeded"
    logs = Path(boxed["tasks"][TRAIN_TASK]["log"]).read_text()
    assert logs.startswith("$ docker run") and "--user=" in logs.splitlines()[0]

    ds = [run_artifact(r, "build-dataset", "dataset") for r in (local, boxed)]
    shards = sorted(p.relative_to(ds[0]) for p in ds[0].rglob("*.tfrecord.gz"))
    assert shards == sorted(p.relative_to(ds[1]) for p in ds[1].rglob("*.tfrecord.gz"))
    for shard in shards:
        assert (ds[0] / shard).read_bytes() == (ds[1] / shard).read_bytes(), shard
        assert gzip.decompress((ds[0] / shard).read_bytes())  # real, non-empty shards
    # Training: same data and seed, another TensorFlow build (the image's); metrics within 0.02.
    m = [r["tasks"]["evaluate"]["artifacts"]["metrics"]["metadata"] for r in (local, boxed)]
    assert m[0]["examples"] == m[1]["examples"]
    for key in ("roc_auc", "accuracy", "log_loss"):
        assert abs(m[0][key] - m[1][key]) <= 0.02, (key, m[0][key], m[1][key])
