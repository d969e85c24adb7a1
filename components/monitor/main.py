"""CLI of the serving monitor: over one window of the request log (and outcome events), input
drift per feature against the champion's training statistics, prediction drift, live quality,
and a verdict (ok, drift, decay) with its reasons.

    python -m components.monitor \
        --requests 'serving-logs/reviews-sentiment/requests/*/*.jsonl' \
        --outcomes 'serving-logs/reviews-sentiment/outcomes/*/*.jsonl' \
        --config config/reviews.yaml --registry-root local-gcs/retrain-dev-models/registry \
        --window-end 2026-11-22T03:00:00Z --window-hours 6 --output /tmp/monitor
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from components.common import beam_options, interface, kfp_io
from components.common.cli import run_cli
from components.monitor.monitor import run


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[str]]:
    """The flags components/monitor/component.py declares; unknown ones are Beam options."""
    args, unknown = interface.parser("components.monitor", __doc__).parse_known_args(argv)
    return args, beam_options.beam_args(args, unknown)


def _body(argv: Sequence[str] | None) -> int:
    args, beam_args = parse_args(argv)
    result, numbers, tracked = run(
        args.requests,
        args.outcomes,
        args.config,
        args.registry_root,
        args.window_end,
        args.window_hours,
        args.output,
        beam_args,
        report_out=args.report,
        metrics_out=args.metrics,
        verdict_out=args.verdict,
        tracking_uri=args.tracking_uri,
        executor_input=kfp_io.parse_executor_input(args.executor_input),
    )
    verdict = result["verdict"]
    print(
        json.dumps(
            {"verdict": verdict["verdict"], "reasons": verdict["reasons"], **numbers, **tracked}
        )
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("monitor", _body, argv)
