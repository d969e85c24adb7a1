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

from components.common import interface, kfp_io
from components.common.checks import check_percent
from components.common.cli import run_cli
from components.common.errors import ConfigError
from components.promote.promote import run


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The flags components/promote/component.py declares, and the CLI's own (--ramp-percent)."""
    parser = interface.parser("components.promote", __doc__)
    parser.add_argument(
        "--ramp-percent", type=float, default=None, help="instead: raise the challenger's share"
    )
    args = parser.parse_args(argv)
    if (args.readout is None) == (args.ramp_percent is None):
        raise ConfigError("give either --readout (apply a decision) or --ramp-percent")
    if args.ramp_percent is not None:
        args.ramp_percent = check_percent(args.ramp_percent, "--ramp-percent")
    return args


def _body(argv: Sequence[str] | None) -> int:
    args = parse_args(argv)
    result = run(
        args.readout,
        args.ramp_percent,
        args.config,
        args.registry_root,
        args.manifest,
        args.record,
        kfp_io.parse_executor_input(args.executor_input),
    )
    print(json.dumps(result))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("promote", _body, argv)
