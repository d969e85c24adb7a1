"""CLI of the train step: `python -m components.train --dataset DIR --config YAML --output DIR`."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path

import yaml

from components.common import fs
from components.common.cli import run_cli
from components.common.config import load_section
from components.common.errors import ConfigError
from components.train.config import TrainConfig


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m components.train", description=__doc__)
    parser.add_argument("--dataset", required=True, help="dataset folder (train/, eval/ shards)")
    parser.add_argument("--config", required=True, help="pipeline config YAML (section: train)")
    parser.add_argument(
        "--output",
        required=True,
        type=Path,
        help="model folder to create: saved_model/, history.json, metrics.json",
    )
    parser.add_argument(
        "--checkpoint-dir",
        default=None,
        help="where to keep resumable checkpoints, a folder or gs:// (default: "
        "<output>.checkpoints); a restarted step resumes from the last finished epoch",
    )
    parser.add_argument(
        "--publish-uri",
        default=None,
        help="also copy the exported model here (gs://), then a _PUBLISHED marker: how a "
        "TFJob's chief hands the model to its launcher",
    )
    tfjob = parser.add_argument_group(
        "several workers (a Kubeflow Training Operator TFJob; components/train/tfjob.py)"
    )
    tfjob.add_argument(
        "--workers",
        type=int,
        default=1,
        help="1: train here. N > 1: create a TFJob of N workers running this command, wait, "
        "and copy the chief's model to --output",
    )
    tfjob.add_argument("--tfjob-image", default="", help="the workers' image")
    tfjob.add_argument("--tfjob-root", default="", help="gs:// folder for checkpoints and model")
    tfjob.add_argument("--tfjob-namespace", default="ml-pipelines")
    tfjob.add_argument("--tfjob-service-account", default="pipeline-runner")
    tfjob.add_argument("--tfjob-gpus", type=int, default=1, help="GPUs per worker")
    tfjob.add_argument("--tfjob-gpu-resource", default="nvidia.com/gpu")
    tfjob.add_argument(
        "--tfjob-node-selector", default="", help="the GPU pool's node labels: k=v,k2=v2"
    )
    tfjob.add_argument(
        "--tfjob-tolerations", default="", help="tolerated taints: key[=value]:effect,..."
    )
    tfjob.add_argument("--tfjob-timeout", type=int, default=6 * 3600, help="seconds")
    tfjob.add_argument(
        "--dry-run", action="store_true", help="print the TFJob instead of creating it"
    )
    parser.add_argument("--epochs", type=int, default=None, help="override train.epochs")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override one train setting by dotted path, e.g. optimizer.learning_rate=3e-4 "
        "(a YAML value; repeatable): how Katib trials pass their parameters",
    )
    return parser.parse_args(argv)


def _body(argv: Sequence[str] | None) -> int:
    args = parse_args(argv)
    cfg = load_section(args.config, "train", TrainConfig)
    overrides: dict[str, object] = {}
    for item in args.set:
        path, sep, value = item.partition("=")
        if not sep or not path:
            raise ConfigError(f"--set {item!r}: expected PATH=VALUE, e.g. head.dropout=0.2")
        overrides[path] = yaml.safe_load(value)
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if overrides:
        try:
            cfg = cfg.with_overrides(overrides)
        except (KeyError, IndexError, ValueError) as err:
            raise ConfigError(f"{args.config}: --set: {err}") from err
    if args.workers > 1:
        return _launch_tfjob(args)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from components.train.trainer import train

    checkpoints = args.checkpoint_dir or str(
        args.output.with_name(args.output.name + ".checkpoints")
    )
    best = train(args.dataset, cfg, args.output, checkpoints)
    if args.publish_uri and (args.output / "saved_model").exists():
        from components.train.tfjob import DONE

        fs.upload_tree(args.output, args.publish_uri)
        fs.write_marker(fs.join(args.publish_uri, DONE), "ok\n")  # written last
    print(json.dumps({"output": str(args.output), **best}))
    # name=value lines: what Katib's StdOut metrics collector reads from a trial.
    for name, value in sorted(best.items()):
        print(f"{name}={value}")
    return 0


def _launch_tfjob(args: argparse.Namespace) -> int:
    from components.train import tfjob

    if not args.tfjob_image or not args.tfjob_root.startswith("gs://"):
        raise ConfigError(
            "--workers > 1 needs --tfjob-image and a gs:// --tfjob-root (the workers' shared "
            "checkpoints and the chief's model)"
        )
    settings = tfjob.TFJobSettings(
        image=args.tfjob_image,
        root=args.tfjob_root,
        namespace=args.tfjob_namespace,
        service_account=args.tfjob_service_account,
        gpus_per_worker=args.tfjob_gpus,
        gpu_resource=args.tfjob_gpu_resource,
        node_selector=tfjob.parse_labels(args.tfjob_node_selector),
        tolerations=tfjob.parse_taints(args.tfjob_tolerations),
    )
    name = tfjob.job_name(str(args.output.resolve()))
    worker = tfjob.worker_args(args.dataset, args.config, name, settings, args.set)
    job = tfjob.manifest(name, args.workers, worker, settings)
    tfjob.run(job, args.tfjob_timeout, dry_run=args.dry_run)
    if args.dry_run:
        return 0
    published = f"{settings.root.rstrip('/')}/{name}/model"
    if not fs.exists(fs.join(published, tfjob.DONE)):
        raise ConfigError(f"the TFJob succeeded but {published} has no {tfjob.DONE} marker")
    with fs.staged_dir(args.output) as stage:
        files = fs.download_tree(published, stage)
        (stage / tfjob.DONE).unlink(missing_ok=True)
    print(json.dumps({"output": str(args.output), "tfjob": name, "files": files}))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("train", _body, argv)
