"""The readout of logs held in memory: the same parsing, unit summaries and decision as the Beam
job (components.readout.pipeline, components.readout.stats), joined with dicts. The replay
simulator's tests use it to run hundreds of simulated experiments quickly."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import numpy as np

from components.common.registry import Registry
from components.readout.config import ABTestConfig


def readout_in_memory(
    cfg: ABTestConfig,
    registry: Registry,
    entries: list[dict[str, Any]],
    events: list[dict[str, Any]],
) -> dict[str, Any]:
    """The readout of logs held in memory: the same parsing, unit summaries and decision as the
    Beam job (pipeline.summarize_unit, stats.decide), joined with dicts. Tests use it to run
    hundreds of simulated experiments; `test_readout_paths_agree` holds it to the Beam job."""
    from components.readout import pipeline, stats

    champion, challenger = registry.champion(), registry.challenger()
    assert champion is not None and challenger is not None
    key = cfg.join_on
    outcome_sum: dict[str, float] = defaultdict(float)
    for e in events:
        outcome_sum[e[key]] += e["value"]
    by_unit: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for raw in entries:
        try:
            row = pipeline.parse_request(json.dumps(raw))
        except pipeline.NotRouted:  # a rejection or a direct call: no arm's traffic
            continue
        if row.get("challenger") == challenger["version"]:
            by_unit[row["unit_id"]].append(
                {**row, "outcome": outcome_sum.get(row["request_id"], 0.0)}
            )
    summaries = [
        pipeline.summarize_unit(u, rows, outcome_sum.get(u, 0.0) if key == "unit_id" else None)
        for u, rows in by_unit.items()
    ]
    units = [s for s in summaries if s["arm"] in pipeline.ARMS]
    latency = {}
    for arm in pipeline.ARMS:
        values = [r["latency_ms"] for rows in by_unit.values() for r in rows if r["arm"] == arm]
        if values:
            q = np.quantile(values, [0.5, 0.99, 1.0])
            latency[arm] = {
                "requests": len(values),
                "errors": sum(
                    r["status"] == "error"
                    for rows in by_unit.values()
                    for r in rows
                    if r["arm"] == arm
                ),
                "p50_ms": float(q[0]),
                "p99_ms": float(q[1]),
                "max_ms": float(q[2]),
                "histogram": stats.latency_histogram(values),
            }
    result = stats.decide(cfg, units, latency)
    result.update(champion=champion["version"], challenger=challenger["version"], read_utc="")
    return result
