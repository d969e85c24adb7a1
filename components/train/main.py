"""CLI of the train step: `python -m components.train --dataset DIR --config YAML --output DIR`."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path

from components.common.cli import run_cli
from components.common.config import load_section
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
        type=Path,
        default=None,
        help="where to keep resumable checkpoints (default: <output>.checkpoints); "
        "a restarted step resumes from the last finished epoch",
    )
    parser.add_argument("--epochs", type=int, default=None, help="override train.epochs")
    return parser.parse_args(argv)


def _body(argv: Sequence[str] | None) -> int:
    args = parse_args(argv)
    cfg = load_section(args.config, "train", TrainConfig)
    if args.epochs is not None:
        cfg = cfg.model_copy(update={"epochs": args.epochs})
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from components.train.trainer import train

    checkpoints = args.checkpoint_dir or args.output.with_name(args.output.name + ".checkpoints")
    best = train(args.dataset, cfg, args.output, checkpoints)
    print(json.dumps({"output": str(args.output), **best}))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("train", _body, argv)
