"""CLI of the preprocess step.

    python -m components.preprocess --raw DIR --config YAML --output DIR [beam flags]

Flags it does not know are Beam pipeline options (`--runner DataflowRunner --project ...`);
by default the job runs on Beam's in-process FnApiRunner (components.common.beam_options).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from components.common import beam_options, interface
from components.common.cli import run_cli
from components.preprocess.executor import run


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[str]]:
    """The flags components/preprocess/component.py declares; unknown ones are Beam options."""
    return interface.parser("components.preprocess", __doc__).parse_known_args(argv)


def _body(argv: Sequence[str] | None) -> int:
    args, unknown = parse_args(argv)
    beam_args = beam_options.beam_args(args, unknown)
    stats = run(args.raw, args.config, args.output, beam_args)
    print(
        json.dumps(
            {
                "output": str(args.output),
                **{
                    k: stats[k]
                    for k in (
                        "rows_in",
                        "rows_out",
                        "dead_letter",
                        "filtered",
                        "duplicates_dropped",
                        "near_duplicates_dropped",
                    )
                },
            }
        )
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("preprocess", _body, argv)
