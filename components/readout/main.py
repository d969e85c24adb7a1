"""CLI of the A/B readout: join the request log with outcome events (Beam), aggregate per arm,
test the challenger against the champion, check guardrails, and decide promote, continue or
roll back. The decision is applied by `python -m components.promote`.

    python -m components.readout --requests 'serving-logs/reviews-sentiment/requests/*/*.jsonl' \
        --outcomes 'serving-logs/reviews-sentiment/outcomes/*/*.jsonl' \
        --config config/reviews.yaml \
        --registry-root local-gcs/retrain-dev-models/registry --output /tmp/readout
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from components.common import beam_options, interface, kfp_io
from components.common.cli import run_cli
from components.readout.readout import run


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[str]]:
    """The flags components/readout/component.py declares; unknown ones are Beam options."""
    args, unknown = interface.parser("components.readout", __doc__).parse_known_args(argv)
    return args, beam_options.beam_args(args, unknown)


def _body(argv: Sequence[str] | None) -> int:
    args, beam_args = parse_args(argv)
    result, numbers, tracked = run(
        args.requests,
        args.outcomes,
        args.config,
        args.registry_root,
        args.output,
        beam_args,
        dashboard=args.dashboard,
        metrics_out=args.metrics,
        decision_out=args.decision,
        tracking_uri=args.tracking_uri,
        executor_input=kfp_io.parse_executor_input(args.executor_input),
    )
    print(
        json.dumps(
            {"decision": result["decision"], "reasons": result["reasons"], **numbers, **tracked}
        )
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("readout", _body, argv)
