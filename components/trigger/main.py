"""CLI of the retraining trigger.

From the monitoring DAG (its verdict):

    python -m components.trigger --monitor DIR --config config/reviews.yaml \
        --registry-root local-gcs/retrain-dev-models/registry --target local --output DIR

For a new data partition (`python -m pipelines trigger` calls this locally):

    python -m components.trigger --kind new-data --detail 'gs://b/reviews/dt=2026-12-01' \
        --target local --output DIR
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from components.common import interface, kfp_io
from components.common.cli import run_cli
from components.common.errors import ConfigError
from components.trigger import rule, trigger


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = interface.parser("components.trigger", __doc__)
    parser.add_argument("--job-name", default="", help="the monitor run's name")
    parser.add_argument(
        "--kind", choices=rule.KINDS, default=None, help="without --monitor: what asks for it"
    )
    parser.add_argument("--detail", default="", help="without --monitor: e.g. the partition")
    parser.add_argument("--window-end", default="", help="without --monitor: now (RFC 3339)")
    parser.add_argument(
        "--cooldown-hours", type=float, default=24.0, help="without --monitor: the cooldown"
    )
    # --monitor is required by the signature for the DAG; the CLI also runs without it.
    for action in parser._actions:
        if action.dest == "monitor":
            action.required = False
    return parser.parse_args(argv)


def _body(argv: Sequence[str] | None) -> int:
    args = parse_args(argv)
    params = trigger.retrain_params(args.config, args.registry_root, args.retrain_parameters)
    if args.monitor:
        verdict = trigger.read_verdict(args.monitor)
        kind, reasons = str(verdict["verdict"]), list(verdict.get("reasons") or [])
        detail, window_end = (reasons[0] if reasons else ""), str(verdict["window_end"])
        cooldown = float(verdict.get("cooldown_hours", args.cooldown_hours))
    elif args.kind:
        kind, detail, window_end, cooldown = (
            args.kind,
            args.detail,
            args.window_end,
            args.cooldown_hours,
        )
    else:
        raise ConfigError("pass --monitor DIR (the monitor's output) or --kind KIND")
    record = trigger.run(
        kind,
        detail,
        window_end,
        args.target,
        Path(args.output),
        cooldown_hours=cooldown,
        params=params,
        trigger_url=args.trigger_url,
        kfp_host=args.kfp_host,
        monitor_run=args.job_name,
    )
    kfp_io.write_executor_output(
        kfp_io.parse_executor_input(args.executor_input),
        {"decision": {k: record[k] for k in ("fired", "reason", "why")}},
    )
    print(json.dumps({k: record.get(k) for k in ("fired", "reason", "why", "started")}))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("trigger", _body, argv)
