"""The train executor: the config with its command-line overrides, training here (optionally
handing the model to a TFJob launcher through --publish-uri), or launching a TFJob of several
workers and fetching the chief's model."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from components.common import fs
from components.common.artifacts import TrainedModel
from components.common.config import load_section
from components.common.errors import ConfigError
from components.train import tfjob
from components.train.config import TrainConfig
from components.train.tfjob import TFJobSettings


def load_config(config_uri: str, sets: Sequence[str], epochs: int | None) -> TrainConfig:
    """The `train` section with `sets` (PATH=VALUE, a YAML value each) and `epochs` applied; a
    config without one trains with every default (inputs from the dataset's kinds)."""
    cfg = load_section(config_uri, "train", TrainConfig, optional=True)
    overrides: dict[str, object] = {}
    for item in sets:
        path, sep, value = item.partition("=")
        if not sep or not path:
            raise ConfigError(f"--set {item!r}: expected PATH=VALUE, e.g. head.dropout=0.2")
        overrides[path] = yaml.safe_load(value)
    if epochs is not None:
        overrides["epochs"] = epochs
    if overrides:
        try:
            cfg = cfg.with_overrides(overrides)
        except (KeyError, IndexError, ValueError) as err:
            raise ConfigError(f"{config_uri}: --set: {err}") from err
    return cfg


def train_here(
    dataset: str,
    cfg: TrainConfig,
    output: Path,
    checkpoint_dir: str | None = None,
    publish_uri: str | None = None,
) -> dict[str, Any]:
    """Train in this process into `output` (checkpoints in `checkpoint_dir`, default
    <output>.checkpoints); with `publish_uri`, also copy the model there and mark it done last.
    Returns the best epoch's metrics."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from components.train.trainer import train

    checkpoints = checkpoint_dir or str(output.with_name(output.name + ".checkpoints"))
    best = train(dataset, cfg, output, checkpoints)
    if publish_uri and (output / TrainedModel.SAVED_MODEL).exists():
        fs.upload_tree(output, publish_uri)
        fs.write_marker(fs.join(publish_uri, tfjob.DONE), "ok\n")  # written last
    return best


def tfjob_settings(
    *,
    image: str,
    root: str,
    namespace: str,
    service_account: str,
    gpus_per_worker: int,
    gpu_resource: str,
    node_selector: str,
    tolerations: str,
) -> TFJobSettings:
    """The TFJob's settings; `node_selector` is k=v,k2=v2, `tolerations` key[=value]:effect,..."""
    if not image or not root.startswith("gs://"):
        raise ConfigError(
            "--workers > 1 needs --tfjob-image and a gs:// --tfjob-root (the workers' shared "
            "checkpoints and the chief's model)"
        )
    return tfjob.TFJobSettings(
        image=image,
        root=root,
        namespace=namespace,
        service_account=service_account,
        gpus_per_worker=gpus_per_worker,
        gpu_resource=gpu_resource,
        node_selector=tfjob.parse_labels(node_selector),
        tolerations=tfjob.parse_taints(tolerations),
    )


def launch_tfjob(
    dataset: str,
    config_uri: str,
    output: Path,
    workers: int,
    settings: TFJobSettings,
    sets: Sequence[str],
    timeout_s: int,
    dry_run: bool = False,
) -> dict[str, Any] | None:
    """Create a TFJob of `workers` workers running the train step, wait for it, and copy the
    chief's model to `output`; {tfjob, files}. With `dry_run`, print the TFJob only (None)."""
    name = tfjob.job_name(str(output.resolve()))
    worker = tfjob.worker_args(dataset, config_uri, name, settings, list(sets))
    job = tfjob.manifest(name, workers, worker, settings)
    tfjob.run(job, timeout_s, dry_run=dry_run)
    if dry_run:
        return None
    published = f"{settings.root.rstrip('/')}/{name}/model"
    if not fs.exists(fs.join(published, tfjob.DONE)):
        raise ConfigError(f"the TFJob succeeded but {published} has no {tfjob.DONE} marker")
    with fs.staged_dir(output) as stage:
        files = fs.download_tree(published, stage)
        (stage / tfjob.DONE).unlink(missing_ok=True)
    return {"tfjob": name, "files": files}
