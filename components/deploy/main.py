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

from components.common import interface, kfp_io
from components.common.checks import check_percent, safe_name
from components.common.cli import run_cli
from components.deploy.deploy import run


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The flags components/deploy/component.py declares, and the CLI's own."""
    parser = interface.parser("components.deploy", __doc__)
    parser.add_argument("--version", default=None, help="version id (default: time + content hash)")
    args = parser.parse_args(argv)
    args.canary_percent = check_percent(args.canary_percent, "--canary-percent")
    if args.version is not None:
        safe_name(args.version, "--version")
    return args


def _body(argv: Sequence[str] | None) -> int:
    args = parse_args(argv)
    result = run(
        Path(args.model),
        args.metrics,
        args.config,
        args.registry_root,
        args.canary_percent,
        args.manifest,
        args.record,
        args.version,
        kfp_io.parse_executor_input(args.executor_input),
    )
    print(json.dumps(result))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("deploy", _body, argv)
