"""CLI of the dataset step: `python -m components.dataset --records DIR --config YAML --output DIR`.

Unknown flags (and --beam-options) are Beam pipeline options; the default is the in-process runner.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from components.common import beam_options, interface
from components.common.cli import run_cli
from components.dataset.executor import baseline, report, run


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[str]]:
    """The flags components/dataset/component.py declares, and the CLI's own."""
    parser = interface.parser("components.dataset", __doc__)
    parser.add_argument(
        "--baseline-stats",
        default="",
        help="a previous dataset's stats.json to compare with (instead of the champion's)",
    )
    return parser.parse_known_args(argv)


def _body(argv: Sequence[str] | None) -> int:
    args, unknown = parse_args(argv)
    beam_args = beam_options.beam_args(args, unknown)
    previous = baseline(args.baseline_stats, args.registry_root, args.config)
    stats = run(args.records, args.config, args.output, beam_args, previous)
    if args.report:
        report(stats, args.config, args.report, args.output)
    print(
        json.dumps(
            {"output": str(args.output), **{n: s["examples"] for n, s in stats["splits"].items()}}
        )
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("dataset", _body, argv)
