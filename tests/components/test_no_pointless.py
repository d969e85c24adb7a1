"""No pointless experiments: a model digest equal for two identical trainings, the registry's
memory of what A/B tests rolled back, and the gate that neither blesses (evaluate) nor publishes
(deploy) a twin of the champion or of a rejected version; `evaluate.min_improvement`.

The models are tiny real Keras models (TextVectorization + Dense), trained in fresh processes
and exported by the train step's own `export_saved_model`; the registry is a real folder."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from markupsafe import escape

from components.common.errors import EXIT_USER_ERROR, PublishError
from components.common.fs import tree_sha256
from components.common.model import ModelConfig
from components.common.model_digest import FILES, WEIGHTS, model_digest, read_index
from components.common.registry import REJECTED, Registry
from components.deploy.config import DeployConfig
from components.deploy.deploy import deploy
from components.evaluate.metrics import EvaluateConfig
from tests.components.test_hardening_registry import fake_gcs  # noqa: F401 (a fixture)
from tests.conftest import REPO, run_cli

MODEL = "reviews-sentiment"
BLESSED = {"roc_auc": 0.9, "blessing": {"blessed": True, "reasons": ["test"]}}
GATE = EvaluateConfig(floors={"roc_auc": 0.0}, max_regression={"roc_auc": 1.0}, baselines=[])

# Trains the models named on the command line (name:seed:data_seed) into <out>/<name>/ as the
# train step leaves them (saved_model/), writes a tiny dataset (test split, schema.json) into
# <out>/dataset when asked, and prints, per model, the sha256 of every numeric checkpoint tensor
# as TensorFlow's own reader returns it.
TRAIN = r"""
import hashlib, json, os, sys
from pathlib import Path
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, keras, tensorflow as tf
from components.train.trainer import export_saved_model

GOOD = ["good", "great", "fine", "superb", "lovely", "moving"]
BAD = ["bad", "awful", "dull", "boring", "poor", "weak"]

def texts(data_seed, n):
    rng = np.random.default_rng(data_seed)
    words = rng.choice(GOOD + BAD, size=(n, 3))
    labels = np.array([int(sum(w in GOOD for w in row) >= 2) for row in words])
    return np.array([" ".join(row) for row in words]), labels

def train(seed, data_seed, out):
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    x, y = texts(data_seed, 240)
    vectorize = keras.layers.TextVectorization(max_tokens=40, output_mode="multi_hot")
    vectorize.adapt(tf.constant(x[: 120 + 10 * data_seed]))
    inp = keras.Input(shape=(), dtype="string", name="text")
    out_ = keras.layers.Dense(1, activation="sigmoid")(vectorize(inp))
    model = keras.Model({"text": inp}, out_)
    model.compile(keras.optimizers.Adam(0.05), "binary_crossentropy")
    features, target = {"text": tf.constant(x)}, tf.constant(y, tf.float32)
    model.fit(features, target, epochs=3, batch_size=32, verbose=0)
    export_saved_model(model, {"text": "string"}, out / "saved_model")
    reader = tf.train.load_checkpoint(str(out / "saved_model" / "variables" / "variables"))
    tensors = {}
    for key in reader.get_variable_to_shape_map():
        value = reader.get_tensor(key)
        if getattr(value, "dtype", None) is not None and value.dtype.kind in "fiu":
            tensors[key] = hashlib.sha256(value.tobytes()).hexdigest()
    return tensors

root = Path(sys.argv[1])
report = {}
for arg in sys.argv[2:]:
    if arg == "dataset":
        x, y = texts(99, 200)
        (root / "dataset" / "test").mkdir(parents=True)
        options = tf.io.TFRecordOptions(compression_type="GZIP")
        with tf.io.TFRecordWriter(str(root / "dataset/test/part-00000.tfrecord.gz"), options) as w:
            for text, label in zip(x, y):
                example = tf.train.Example(features=tf.train.Features(feature={
                    "text": tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode()])),
                    "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
                }))
                w.write(example.SerializeToString())
        (root / "dataset/schema.json").write_text(json.dumps(
            {"features": {"text": "string"}, "label": "label", "compression": "GZIP"}))
        continue
    name, seed, data_seed = arg.split(":")
    report[name] = train(int(seed), int(data_seed), root / name)
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two fresh processes, run side by side: the first trains a, its twin a_same_process, b
    (another seed), c (other data) and writes the dataset; the second trains a_other_process
    and b_twin, the same trainings as a and b in another process."""
    root = tmp_path_factory.mktemp("no-pointless")
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": "random"}
    runs = [
        ["dataset", "a:1:1", "a_same_process:1:1", "b:2:1", "c:1:2"],
        ["a_other_process:1:1", "b_twin:2:1"],
    ]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", TRAIN, str(root), *args],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in runs
    ]
    tensors: dict[str, Any] = {}
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
        tensors |= json.loads(out.strip().splitlines()[-1])
    return {"root": root, "tensors": tensors}


def saved(models: dict[str, Any], name: str) -> Path:
    return Path(models["root"]) / name / "saved_model"


def evaluate_in(models: dict[str, Any], name: str, registry: Registry, cfg: EvaluateConfig = GATE):
    from components.evaluate.evaluate import evaluate

    root = Path(models["root"])
    return evaluate(str(root / name), str(root / "dataset"), cfg, registry)


def publish(models: dict[str, Any], name: str, registry_root: Path, tmp: Path) -> dict[str, Any]:
    return dict(
        deploy(
            Path(models["root"]) / name,
            BLESSED,
            ModelConfig(name=MODEL),
            DeployConfig(),
            str(registry_root),
            10,
            tmp / f"isvc-{name}.yaml",
        )
    )


def with_champion(models: dict[str, Any], tmp: Path) -> tuple[Path, Registry, str]:
    """A registry in tmp/registry whose champion is model a, published by deploy; (its root,
    the registry, the champion's version)."""
    registry_root = tmp / "registry"
    published = publish(models, "a", registry_root, tmp)
    assert published["role"] == "champion"
    return registry_root, Registry(str(registry_root), MODEL), published["version"]


def deploy_cli(models: dict[str, Any], name: str, registry_root: Path, tmp: Path) -> Any:
    """`python -m components.deploy` of model `name` with an evaluation that blessed it."""
    metrics = tmp / f"metrics-{name}.json"
    metrics.write_text(json.dumps(BLESSED))
    return run_cli(
        "components.deploy",
        "--model",
        str(Path(models["root"]) / name),
        "--metrics",
        str(metrics),
        "--config",
        str(REPO / "config" / "reviews.yaml"),
        "--registry-root",
        str(registry_root),
        "--canary-percent",
        "10",
        "--manifest",
        str(tmp / f"isvc-cli-{name}.yaml"),
    )


# ---- the digest ----------------------------------------------------------------------------------
@pytest.mark.integration
def test_digest_is_equal_for_identical_trainings_only(models: dict[str, Any]) -> None:
    digests = {n: model_digest(saved(models, n)) for n in models["tensors"]}
    assert digests["a"].startswith(f"{WEIGHTS}:")
    # The same data and seed: the same digest, in the same process and in another one...
    assert digests["a"] == digests["a_same_process"] == digests["a_other_process"]
    assert digests["b"] == digests["b_twin"]
    # ...though not the same bytes (fingerprint ids, function names, set-ordered variables).
    assert tree_sha256(saved(models, "a")) != tree_sha256(saved(models, "a_other_process"))
    # Another seed, other data: another digest.
    assert len({digests["a"], digests["b"], digests["c"]}) == 3


@pytest.mark.integration
def test_checkpoint_reader_agrees_with_tensorflow(models: dict[str, Any]) -> None:
    """The TensorFlow-free reader of variables.index finds every tensor TensorFlow's reader
    finds, and the bytes it reads for each are the values TensorFlow returns."""
    for name, expected in models["tensors"].items():
        folder = saved(models, name)
        shards, entries = read_index((folder / "variables" / "variables.index").read_bytes())
        assert shards == 1
        data = (folder / "variables" / "variables.data-00000-of-00001").read_bytes()
        found = {e.key: e for e in entries}
        assert set(expected) <= set(found)
        for key, digest in expected.items():
            entry = found[key]
            assert hashlib.sha256(data[entry.offset : entry.offset + entry.size]).hexdigest() == (
                digest
            ), (name, key)


def test_digest_of_a_model_without_weights_is_its_files(tmp_path: Path) -> None:
    """No variables: what the graph computes is its bytes (fingerprint.pb aside)."""
    for name, graph in (("one", b"graph-1"), ("two", b"graph-1"), ("three", b"graph-2")):
        (tmp_path / name / "variables").mkdir(parents=True)
        (tmp_path / name / "saved_model.pb").write_bytes(graph)
        (tmp_path / name / "fingerprint.pb").write_bytes(os.urandom(16))
    one, two, three = (model_digest(tmp_path / n) for n in ("one", "two", "three"))
    assert one.startswith(f"{FILES}:") and one == two != three


# ---- the registry's memory of rejections --------------------------------------------------------
@pytest.mark.integration
def test_rollback_is_remembered_and_a_twin_is_neither_blessed_nor_published(
    models: dict[str, Any], tmp_path: Path
) -> None:
    from components.promote.promote import apply

    registry_root, registry, champion = with_champion(models, tmp_path)
    challenger = publish(models, "b", registry_root, tmp_path)
    assert challenger["role"] == "challenger"
    assert registry.metadata(challenger["version"])["model_digest"] == model_digest(
        saved(models, "b")
    )
    decision = {
        "decision": "rollback",
        "champion": champion,
        "challenger": challenger["version"],
        "read_utc": "2026-12-01T10:00:00Z",
        "reasons": ["the challenger is not significantly better: delta +0.0000"],
    }
    result = apply(decision, registry)
    assert result["moved"] == ["challenger"] and registry.challenger() is None
    (record,) = registry.rejections()
    assert record["version"] == challenger["version"]
    assert record["model_digest"] == model_digest(saved(models, "b"))
    assert record["reason"] == "the challenger is not significantly better: delta +0.0000"
    assert record["champion"] == champion
    # Applying the decision again (a rerun after a kill) records nothing new.
    apply(decision, registry)
    assert registry.rejections() == [record]
    assert json.loads((registry_root / MODEL / REJECTED).read_text()) == {"rejected": [record]}

    # b_twin, the same training as b in another process: not blessed, not published.
    result_twin = evaluate_in(models, "b_twin", registry)
    assert not result_twin.blessed
    expected = (
        f"identical to {challenger['version']}, rolled back on {record['rolled_back_utc']}: "
        "the challenger is not significantly better: delta +0.0000"
    )
    assert expected in result_twin.reasons[0], result_twin.reasons
    assert escape(expected) in result_twin.html  # the report says so
    versions = registry.versions()
    done = deploy_cli(models, "b_twin", registry_root, tmp_path)
    assert done.returncode == EXIT_USER_ERROR, done.stderr
    assert "refusing to publish a pointless experiment" in done.stderr and expected in done.stderr
    assert "Traceback" not in done.stderr
    assert registry.versions() == versions


@pytest.mark.integration
def test_the_champions_twin_is_neither_blessed_nor_published(
    models: dict[str, Any], tmp_path: Path
) -> None:
    registry_root, registry, champion = with_champion(models, tmp_path)
    result = evaluate_in(models, "a_other_process", registry)
    assert result.blessed is False and result.champion_version == champion
    digest = model_digest(saved(models, "a"))
    assert result.reasons[0] == (
        f"identical to the champion {champion} (model digest {digest[: len(WEIGHTS) + 13]}): "
        "nothing new to test: not blessed"
    )
    assert escape(result.reasons[0]) in result.html
    with pytest.raises(PublishError, match=f"identical to the champion {champion}"):
        publish(models, "a_same_process", registry_root, tmp_path)
    done = deploy_cli(models, "a_other_process", registry_root, tmp_path)
    assert done.returncode == EXIT_USER_ERROR and "identical to the champion" in done.stderr
    assert registry.versions() == [champion]


@pytest.mark.integration
def test_a_version_published_without_a_digest_is_digested_on_demand(
    models: dict[str, Any], tmp_path: Path
) -> None:
    """A version published before digests were kept (no model_digest in its metadata) is
    digested from its files: its twin is still caught."""
    registry = Registry(str(tmp_path / "registry"), MODEL)
    registry.publish(saved(models, "a"), "v1", {})
    registry.move_champion("v1", "published before model digests")
    assert "model_digest" not in registry.metadata("v1")
    assert registry.model_digest("v1") == model_digest(saved(models, "a"))
    result = evaluate_in(models, "a_other_process", registry)
    assert not result.blessed and "identical to the champion v1" in result.reasons[0]


# ---- min_improvement, and a different model blessed as before -----------------------------------
@pytest.mark.integration
def test_a_different_model_is_blessed_and_published_unless_it_improves_too_little(
    models: dict[str, Any], tmp_path: Path
) -> None:
    registry_root, registry, champion = with_champion(models, tmp_path)
    result = evaluate_in(models, "c", registry)
    assert result.blessed, result.reasons
    assert not any("identical" in r for r in result.reasons)
    assert result.champion is not None
    gain = result.candidate["roc_auc"] - result.champion["roc_auc"]
    # A margin the candidate cannot reach: not blessed, saying by how much it improved.
    margin = round(max(gain, 0) + 0.01, 4)
    strict = GATE.model_copy(update={"min_improvement": {"roc_auc": margin}})
    refused = evaluate_in(models, "c", registry, strict)
    assert not refused.blessed
    assert (
        f"by {gain:+.4f}, less than the required min_improvement {margin}" in (refused.reasons[-1])
    )
    assert escape(refused.reasons[-1]) in refused.html  # the report says so
    # A margin it reaches (when it beats the champion at all) blesses it.
    if gain >= 0:
        reached = GATE.model_copy(update={"min_improvement": {"roc_auc": gain / 2}})
        assert evaluate_in(models, "c", registry, reached).blessed
    published = publish(models, "c", registry_root, tmp_path)
    assert published["role"] == "challenger" and published["previous"] == champion
    assert registry.metadata(published["version"])["model_digest"] == model_digest(
        saved(models, "c")
    )


def test_min_improvement_rule() -> None:
    from components.evaluate.evaluate import improvement

    candidate = {"roc_auc": 0.86, "log_loss": 0.40}
    champion = {"roc_auc": 0.85, "log_loss": 0.42}

    def cfg(**margins: float) -> EvaluateConfig:
        return EvaluateConfig(min_improvement=margins)

    assert improvement(candidate, champion, EvaluateConfig()) == (True, [])  # the default
    assert improvement(candidate, None, cfg(roc_auc=0.5)) == (True, [])  # no champion
    ok, reasons = improvement(candidate, champion, cfg(roc_auc=0.005, log_loss=0.01))
    assert ok, reasons
    assert "log_loss 0.4000 improves on the champion's 0.4200 by +0.0200" in reasons[0]
    ok, reasons = improvement(candidate, champion, cfg(roc_auc=0.02))
    assert not ok
    assert reasons == [
        "roc_auc 0.8600 improves on the champion's 0.8500 by +0.0100, less than the required "
        "min_improvement 0.02: not blessed"
    ]
    ok, reasons = improvement({"roc_auc": float("nan")}, champion, cfg(roc_auc=0.0))
    assert not ok and "missing or NaN" in reasons[0]


def test_min_improvement_is_checked_with_the_config(tmp_path: Path) -> None:
    """A negative, infinite or non-numeric margin fails where every config section is checked."""
    from components.common.config import validate_all
    from components.common.errors import ConfigError

    cfg = yaml.safe_load((REPO / "config" / "reviews.yaml").read_text())
    assert EvaluateConfig.model_validate(cfg["evaluate"]).min_improvement == {}
    for bad in (-0.01, float("inf"), "a lot"):
        cfg["evaluate"]["min_improvement"] = {"roc_auc": bad}
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(cfg))
        with pytest.raises(ConfigError, match=r"evaluate\.min_improvement\.roc_auc"):
            validate_all(str(path))


# ---- rejected.json: append-only under concurrent writers ----------------------------------------
def _reject_in_child(root: str, version: str, barrier: Any) -> None:
    barrier.wait(timeout=60)
    Registry(root, MODEL).reject(version, f"rolled back {version}", champion="v0")


def _committed(root: Path, versions: list[str]) -> None:
    for version in versions:
        folder = root / MODEL / "versions" / version
        folder.mkdir(parents=True)
        (folder / "metadata.json").write_text(json.dumps({"model_digest": f"{WEIGHTS}:{version}"}))
        (folder / "_COMMITTED").write_text("t\n")


def test_concurrent_rejections_are_all_kept(tmp_path: Path) -> None:
    versions = [f"v{i}" for i in range(1, 7)]
    _committed(tmp_path, versions)
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(versions))
    procs = [
        ctx.Process(target=_reject_in_child, args=(str(tmp_path), v, barrier)) for v in versions
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * len(versions)
    registry = Registry(str(tmp_path), MODEL)
    kept = registry.rejections()
    assert sorted(r["version"] for r in kept) == versions
    assert all(r["model_digest"] == f"{WEIGHTS}:{r['version']}" for r in kept)
    first = kept[0]
    again = registry.reject(first["version"], "another reason")
    assert again == first and registry.rejections() == kept  # append-only: the first record
    with pytest.raises(PublishError, match="not a committed version"):
        registry.reject("v99", "x")
    assert "identical to v3, rolled back on" in registry.twins(f"{WEIGHTS}:v3")[0]
    assert registry.twins(f"{WEIGHTS}:new") == []


@pytest.mark.integration
@pytest.mark.tools
def test_rejections_on_gcs_are_appended_under_a_generation_precondition(
    fake_gcs: dict[str, str],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Against fake-gcs-server (which enforces if_generation_match): racing appends from
    separate processes are all kept, each retried until its precondition holds."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    for name, value in fake_gcs.items():
        monkeypatch.setenv(name, value)
    import apache_beam.io.gcp.gcsio  # noqa: F401

    from components.common import fs

    fs.beam_filesystems()
    bucket = storage.Client(project="test", credentials=AnonymousCredentials()).bucket("models")
    root = "gs://models/rejections"
    versions = [f"v{i}" for i in range(1, 5)]
    for version in versions:
        prefix = f"rejections/{MODEL}/versions/{version}"
        bucket.blob(f"{prefix}/metadata.json").upload_from_string(
            json.dumps({"model_digest": f"{WEIGHTS}:{version}"})
        )
        bucket.blob(f"{prefix}/_COMMITTED").upload_from_string("t\n")
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(versions))
    procs = [ctx.Process(target=_reject_in_child, args=(root, v, barrier)) for v in versions]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0] * len(versions)
    kept = Registry(root, MODEL).rejections()
    assert sorted(r["version"] for r in kept) == versions
