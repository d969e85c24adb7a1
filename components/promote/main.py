"""CLI of the promote step: apply an A/B readout's decision (promote, roll back, continue) to the
registry's pointers and re-render the KServe InferenceService; or ramp the challenger's share.

    python -m components.promote --readout /tmp/readout --config config/reviews.yaml \
        --registry-root local-gcs/retrain-dev-models/registry --manifest /tmp/isvc.yaml
    python -m components.promote --ramp-percent 50 --config ... --registry-root ... --manifest ...
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from components.common import fs, kfp_io
from components.common.cli import run_cli
from components.common.config import load_section
from components.common.errors import ConfigError
from components.common.registry import Registry
from components.deploy.config import DeployConfig
from components.deploy.deploy import write_manifest
from components.promote.promote import apply, ramp
from components.readout.readout import DECISION


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m components.promote",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--readout", type=Path, default=None, help="folder the readout wrote")
    parser.add_argument(
        "--ramp-percent", type=float, default=None, help="instead: raise the challenger's share"
    )
    parser.add_argument("--config", required=True, help="pipeline config (section: deploy)")
    parser.add_argument("--registry-root", required=True, help="local folder or gs://bucket/prefix")
    parser.add_argument(
        "--manifest", required=True, type=Path, help="InferenceService YAML to write"
    )
    parser.add_argument("--record", type=Path, default=None, help="JSON file recording the moves")
    parser.add_argument("--executor-input", default=None, help="KFP executor input JSON ({{$}})")
    args = parser.parse_args(argv)
    if (args.readout is None) == (args.ramp_percent is None):
        raise ConfigError("give either --readout (apply a decision) or --ramp-percent")
    return args


def _body(argv: Sequence[str] | None) -> int:
    args = parse_args(argv)
    executor_input = kfp_io.parse_executor_input(args.executor_input)
    cfg = load_section(args.config, "deploy", DeployConfig)
    registry = Registry(args.registry_root, cfg.model_name)
    if args.readout is not None:
        result = apply(fs.read_json(str(args.readout / DECISION)), registry)
    else:
        pointer = ramp(registry, args.ramp_percent)
        result = {
            "decision": "ramp",
            "challenger": pointer["version"],
            "percent": pointer["percent"],
        }
    if registry.champion() is not None:
        write_manifest(cfg, registry, args.manifest)
    if args.record:
        fs.write_json_atomic(args.record, result)
    kfp_io.write_executor_output(executor_input, {"record": result})
    print(json.dumps(result))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("promote", _body, argv)
