"""One A/B readout: run the Beam join, decide with the statistics, write the decision, the
per-unit summaries and the dashboard into one output folder, published whole (staged, renamed)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

from components.common import fs
from components.common.registry import Registry
from components.readout import dashboard, stats
from components.readout.config import ABTestConfig

log = logging.getLogger(__name__)

DECISION = "decision.json"
DASHBOARD = "dashboard.html"
NONE = "none"


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
        "read_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
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
            summaries = _jsonl(stage / "units.jsonl")
            units = [u for u in summaries if u["arm"] in pipeline.ARMS]
            overall, timeline = latency_tables(_jsonl(stage / "latency.jsonl"))
            result.update(stats.decide(cfg, units, overall))
            result.update(
                counts=counts,
                dead_letters=len(_jsonl(stage / "dead_letter.jsonl")),
                crossed_units=len(summaries) - len(units),
                experiment_started_utc=challenger.get("started_utc"),
            )
            curve = dashboard.cumulative(units, cfg.alpha)
        fs.write_json_atomic(stage / DECISION, result)
        fs.write_text_atomic(stage / DASHBOARD, dashboard.render(result, curve, timeline))
    log.info("readout: %s (%s)", result["decision"], "; ".join(result["reasons"]))
    return result
