"""CLI of the train step: `python -m components.train --dataset DIR --config YAML --output DIR`."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from components.common import interface
from components.common.cli import run_cli
from components.train import executor


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The flags components/train/component.py declares, and the CLI's own: resumable
    checkpoints, the TFJob's settings (platform values the pipeline fills in) and overrides."""
    parser = interface.parser("components.train", __doc__)
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
        "several workers (--workers > 1: a Kubeflow Training Operator TFJob; "
        "components/train/tfjob.py)"
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
    cfg = executor.load_config(args.config, args.set, args.epochs)
    if args.workers > 1:
        settings = executor.tfjob_settings(
            image=args.tfjob_image,
            root=args.tfjob_root,
            namespace=args.tfjob_namespace,
            service_account=args.tfjob_service_account,
            gpus_per_worker=args.tfjob_gpus,
            gpu_resource=args.tfjob_gpu_resource,
            node_selector=args.tfjob_node_selector,
            tolerations=args.tfjob_tolerations,
        )
        launched = executor.launch_tfjob(
            args.dataset,
            args.config,
            args.output,
            args.workers,
            settings,
            args.set,
            args.tfjob_timeout,
            args.dry_run,
        )
        if launched is not None:
            print(json.dumps({"output": str(args.output), **launched}))
        return 0
    best = executor.train_here(
        args.dataset, cfg, args.output, args.checkpoint_dir, args.publish_uri
    )
    print(json.dumps({"output": str(args.output), **best}))
    # name=value lines: what Katib's StdOut metrics collector reads from a trial.
    for name, value in sorted(best.items()):
        print(f"{name}={value}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("train", _body, argv)
