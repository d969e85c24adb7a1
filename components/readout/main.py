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
import shutil
from collections.abc import Sequence
from pathlib import Path

from components.common import beam_options, fs, kfp_io
from components.common.cli import run_cli
from components.common.config import load_section
from components.common.registry import Registry
from components.deploy.config import DeployConfig
from components.readout.config import ABTestConfig
from components.readout.readout import DASHBOARD, readout


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        prog="python -m components.readout",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--requests", required=True, help="glob of the request log (JSONL)")
    parser.add_argument("--outcomes", required=True, help="glob of the outcome events (JSONL)")
    parser.add_argument("--config", required=True, help="pipeline config (sections abtest, deploy)")
    parser.add_argument("--registry-root", required=True, help="local folder or gs://bucket/prefix")
    parser.add_argument("--output", required=True, type=Path, help="readout folder to write")
    parser.add_argument("--dashboard", type=Path, default=None, help="also copy the HTML here")
    parser.add_argument("--metrics", type=Path, default=None, help="KFP metrics JSON to write")
    parser.add_argument(
        "--tracking-uri",
        default="",
        help="MLflow tracking URI for the readout's run record (empty: a local store beside a "
        "local registry, none beside a gs:// one)",
    )
    parser.add_argument(
        "--decision", type=Path, default=None, help="file to write the decision word into"
    )
    parser.add_argument("--executor-input", default=None, help="KFP executor input JSON ({{$}})")
    beam_options.add_flag(parser)
    args, unknown = parser.parse_known_args(argv)
    return args, beam_options.beam_args(args, unknown)


def metrics(result: dict) -> dict[str, float]:
    """The readout's numbers as flat KFP metrics."""
    out: dict[str, float] = {"min_units_per_arm": result.get("min_units_per_arm", 0)}
    for arm, numbers in result.get("arms", {}).items():
        out[f"{arm}_units"] = numbers["units"]
        out[f"{arm}_error_rate"] = round(numbers["error_rate"], 6)
        if numbers["mean"] is not None:
            out[f"{arm}_mean"] = round(numbers["mean"], 6)
    for arm, numbers in result.get("latency", {}).items():
        out[f"{arm}_p99_ms"] = round(numbers["p99_ms"], 3)
    test = result.get("test") or result.get("interim")
    if test:
        out.update({k: round(test[k], 6) for k in ("delta", "ci_low", "ci_high", "p_value")})
    return out


def record_run(result: dict, numbers: dict[str, float], args: argparse.Namespace) -> dict:
    """The readout as an MLflow run in the experiment `<model>-ab`: the design and versions as
    parameters, the numbers as metrics, the decision as a tag, the decision and dashboard files."""
    from components.record.record import log_mlflow_run, resolve_tracking

    tracking = resolve_tracking(args.tracking_uri, args.registry_root)
    if tracking is None or result["decision"] == "none":
        return {}
    cfg = load_section(args.config, "abtest", ABTestConfig)
    params = {
        "champion": str(result["champion"]),
        "challenger": str(result["challenger"]),
        "challenger_percent": str(result["challenger_percent"]),
        **{k: str(v) for k, v in cfg.model_dump(exclude={"guardrails"}).items()},
    }
    run = log_mlflow_run(
        tracking,
        f"{result['model_name']}-ab",
        f"readout-{result['read_utc']}",
        params,
        numbers,
        {"decision": result["decision"], "mlflow.note.content": "\n".join(result["reasons"])},
        {"decision.json": result},
        (args.output / DASHBOARD,),
    )
    return {"mlflow_run_id": run["run_id"]}


def _body(argv: Sequence[str] | None) -> int:
    args, beam_args = parse_args(argv)
    executor_input = kfp_io.parse_executor_input(args.executor_input)
    cfg = load_section(args.config, "abtest", ABTestConfig)
    model_name = load_section(args.config, "deploy", DeployConfig).model_name
    result = readout(
        args.requests,
        args.outcomes,
        cfg,
        Registry(args.registry_root, model_name),
        args.output,
        beam_args,
    )
    if args.dashboard:
        args.dashboard.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.output / DASHBOARD, args.dashboard)
    numbers = metrics(result)
    tracked = record_run(result, numbers, args)
    if args.metrics:
        fs.write_json_atomic(args.metrics, numbers)
    if args.decision:
        fs.write_text_atomic(args.decision, result["decision"])
    kfp_io.write_executor_output(
        executor_input,
        {"metrics": numbers, "readout": {"decision": result["decision"]}},
        {"decision": result["decision"]},
    )
    print(
        json.dumps(
            {"decision": result["decision"], "reasons": result["reasons"], **numbers, **tracked}
        )
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("readout", _body, argv)
