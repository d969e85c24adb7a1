"""CLI of the deploy step: publish a blessed model as a new registry version, move `champion`,
and write the KServe InferenceService that canaries it.

    python -m components.deploy --model DIR --metrics FILE --config YAML \
        --registry-root DIR --canary-percent 10 --manifest FILE --record FILE
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from components.common import fs, kfp_io
from components.common.cli import run_cli
from components.common.config import load_section
from components.deploy.config import DeployConfig
from components.deploy.deploy import deploy


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m components.deploy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, type=Path, help="model folder written by train")
    parser.add_argument(
        "--metrics", required=True, help="metrics JSON written by evaluate (holds the blessing)"
    )
    parser.add_argument("--config", required=True, help="pipeline config YAML (section: deploy)")
    parser.add_argument(
        "--registry-root", required=True, help="registry root: a local folder or gs://bucket/prefix"
    )
    parser.add_argument(
        "--canary-percent",
        type=int,
        default=10,
        help="traffic share for the new version while the previous one serves",
    )
    parser.add_argument(
        "--manifest", required=True, type=Path, help="InferenceService YAML to write"
    )
    parser.add_argument(
        "--record",
        type=Path,
        default=None,
        help="JSON file recording the version, its URI and the previous champion",
    )
    parser.add_argument("--version", default=None, help="version id (default: time + content hash)")
    parser.add_argument(
        "--executor-input",
        default=None,
        help="KFP executor input JSON ({{$}}): the published version is "
        "recorded as the record artifact's metadata",
    )
    return parser.parse_args(argv)


def _body(argv: Sequence[str] | None) -> int:
    args = parse_args(argv)
    executor_input = kfp_io.parse_executor_input(args.executor_input)
    cfg = load_section(args.config, "deploy", DeployConfig)
    evaluation = fs.read_json(args.metrics)
    result = deploy(
        args.model,
        evaluation,
        cfg,
        args.registry_root,
        args.canary_percent,
        args.manifest,
        args.version,
    )
    if args.record:
        fs.write_json_atomic(args.record, result)
    kfp_io.write_executor_output(
        executor_input,
        {"record": {k: v for k, v in result.items() if k in ("version", "uri", "previous")}},
    )
    print(json.dumps(result))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("deploy", _body, argv)
