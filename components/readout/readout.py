"""One A/B readout: run the Beam join, decide with the statistics, write the decision, the
per-unit summaries and the dashboard into one output folder, published whole (staged, renamed)."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from components.common import fs, kfp_io
from components.common.artifacts import NONE, Readout
from components.common.config import load_section, validate_all
from components.common.model import load_model
from components.common.registry import Registry
from components.common.times import stamp
from components.readout import dashboard, stats
from components.readout.config import ABTestConfig

log = logging.getLogger(__name__)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def latency_tables(rows: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The Beam job's latency rows -> (per arm, per arm and time bucket)."""
    overall: dict[str, Any] = {}
    timeline: list[dict[str, Any]] = []
    for row in rows:
        arm, _, bucket = row["key"].partition("|")
        numbers = {k: row[k] for k in ("requests", "errors", "p50_ms", "p99_ms", "max_ms")}
        if not bucket:
            numbers["histogram"] = row["histogram"]  # what the latency guardrail counts
        numbers["error_rate"] = row["errors"] / row["requests"] if row["requests"] else 0.0
        if bucket:
            timeline.append({"arm": arm, "time": float(bucket), **numbers})
        else:
            overall[arm] = numbers
    return overall, timeline


def readout(
    requests_glob: str,
    outcomes_glob: str,
    cfg: ABTestConfig,
    registry: Registry,
    output: Path,
    beam_args: list[str],
) -> dict[str, Any]:
    from components.readout import pipeline

    champion, challenger = registry.champion(), registry.challenger()
    result: dict[str, Any] = {
        "model_name": registry.model_name,
        "champion": champion["version"] if champion else None,
        "challenger": challenger["version"] if challenger else None,
        "challenger_percent": challenger["percent"] if challenger else 0,
        "metric": cfg.metric,
        "read_utc": stamp(),
    }
    with fs.staged_dir(output) as stage:
        if challenger is None or champion is None:
            result.update(
                decision=NONE, reasons=[f"no challenger is under test in {registry.base}"]
            )
            curve: list[dict[str, Any]] = []
            timeline: list[dict[str, Any]] = []
        elif not fs.match(requests_glob):
            result.update(
                decision=stats.CONTINUE,
                reasons=[f"no request log matches {requests_glob} yet; is the server logging?"],
            )
            curve, timeline = [], []
        else:
            counts = pipeline.run(
                requests_glob,
                outcomes_glob if fs.match(outcomes_glob) else "",
                challenger["version"],
                cfg.join_on,
                cfg.bucket_minutes * 60,
                str(stage),
                beam_args,
            )
            summaries = _jsonl(stage / Readout.UNITS)
            units = [u for u in summaries if u["arm"] in pipeline.ARMS]
            overall, timeline = latency_tables(_jsonl(stage / Readout.LATENCY))
            result.update(stats.decide(cfg, units, overall))
            result.update(
                counts=counts,
                dead_letters=len(_jsonl(stage / Readout.DEAD_LETTER)),
                crossed_units=len(summaries) - len(units),
                experiment_started_utc=challenger.get("started_utc"),
            )
            curve = dashboard.cumulative(units, cfg.alpha)
        fs.write_json_atomic(stage / Readout.DECISION, result)
        fs.write_text_atomic(stage / Readout.DASHBOARD, dashboard.render(result, curve, timeline))
    log.info("readout: %s (%s)", result["decision"], "; ".join(result["reasons"]))
    return result


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


def record_run(
    result: dict,
    numbers: dict[str, float],
    cfg: ABTestConfig,
    tracking_uri: str,
    registry_root: str,
    output: Path,
) -> dict:
    """The readout as an MLflow run in the experiment `<model>-ab`: the design and versions as
    parameters, the numbers as metrics, the decision as a tag, the decision and dashboard files."""
    from components.common.tracking import log_mlflow_run, resolve_tracking

    tracking = resolve_tracking(tracking_uri, registry_root)
    if tracking is None or result["decision"] == NONE:
        return {}
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
        (output / Readout.DASHBOARD,),
    )
    return {"mlflow_run_id": run["run_id"]}


def run(
    requests_glob: str,
    outcomes_glob: str,
    config_uri: str,
    registry_root: str,
    output: Path,
    beam_args: list[str],
    *,
    dashboard: Path | None = None,
    metrics_out: Path | None = None,
    decision_out: Path | None = None,
    tracking_uri: str = "",
    executor_input: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, float], dict[str, str]]:
    """The readout step: read out the model's experiment into `output`, copy the dashboard, log
    the MLflow run, write the KFP metrics and the decision word; (result, metrics, run ids)."""
    validate_all(config_uri)  # the first step of the A/B DAG checks every section
    cfg = load_section(config_uri, "abtest", ABTestConfig)
    registry = Registry(registry_root, load_model(config_uri).name)
    result = readout(requests_glob, outcomes_glob, cfg, registry, output, beam_args)
    if dashboard:
        dashboard.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(output / Readout.DASHBOARD, dashboard)
    numbers = metrics(result)
    tracked = record_run(result, numbers, cfg, tracking_uri, registry_root, output)
    if metrics_out:
        fs.write_json_atomic(metrics_out, numbers)
    if decision_out:
        fs.write_text_atomic(decision_out, result["decision"])
    kfp_io.write_executor_output(
        executor_input,
        {"metrics": numbers, "readout": {"decision": result["decision"]}},
        {"decision": result["decision"]},
    )
    return result, numbers, tracked
