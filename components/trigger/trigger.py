"""The trigger step: read the monitor's verdict (or a new partition), apply the rule to the
retrains the engine has run, start one when it allows, and record the decision in trigger.json."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from components.common import fs
from components.common.errors import ConfigError
from components.trigger import rule, targets

log = logging.getLogger("trigger")

TARGETS = ("none", "local", "kfp", "argo-events")
DECISION = "trigger.json"
VERDICT = "verdict.json"  # the monitor step's (components/monitor/monitor.py)


def retrain_params(config: str, registry_root: str, extra: str) -> dict[str, str]:
    """The retrain's parameters: the monitor's config and registry, and `extra` (a JSON object)."""
    try:
        more = json.loads(extra or "{}")
    except json.JSONDecodeError as err:
        raise ConfigError(f"retrain_parameters {extra!r}: not JSON ({err.msg})") from None
    if not isinstance(more, dict) or not all(
        isinstance(v, str | int | float | bool) for v in more.values()
    ):
        raise ConfigError(
            f"retrain_parameters {extra!r}: expected a JSON object of retrain parameters, e.g. "
            '{"data_uri": "gs://bucket/reviews/dt={date}/*.csv", "window_days": 7}'
        )
    params = {k: str(v) for k, v in {"config": config, "registry_root": registry_root}.items() if v}
    if "reason" in more:
        raise ConfigError("retrain_parameters: `reason` is the trigger's to set")
    return {
        **params,
        **{k: json.dumps(v) if isinstance(v, bool) else str(v) for k, v in more.items()},
    }


def read_verdict(monitor_dir: str) -> dict[str, Any]:
    path = fs.join(monitor_dir, VERDICT)
    verdict = fs.read_json(path)  # InputDataError naming the file: missing, or not JSON
    if not isinstance(verdict, dict):
        raise ConfigError(f"{path}: expected the monitor's verdict object")
    missing = [k for k in ("verdict", "reasons", "window_end") if k not in verdict]
    if missing:
        raise ConfigError(f"{path}: missing {missing}; was it written by the monitor step?")
    return dict(verdict)


def target_of(name: str, trigger_url: str, kfp_host: str) -> targets.Target:
    if name == "local":
        return targets.Local.from_env()
    if name == "argo-events":
        return targets.ArgoEvents.in_cluster(trigger_url)
    if name == "kfp":
        return targets.Kfp.from_env(kfp_host)
    raise ConfigError(f"trigger {name!r}: expected one of {', '.join(TARGETS)}")


def run(
    kind: str,
    detail: str,
    window_end: str,
    target_name: str,
    output: Path,
    *,
    cooldown_hours: float = 24.0,
    params: dict[str, str] | None = None,
    trigger_url: str = "",
    kfp_host: str = "",
    monitor_run: str = "",
    target: targets.Target | None = None,
) -> dict[str, Any]:
    """Decide, start when the rule allows, and write output/trigger.json; the decision record."""
    try:
        now = targets.parse_time(window_end) if window_end else datetime.now(UTC)
    except ValueError:
        raise ConfigError(
            f"window_end {window_end!r}: expected RFC 3339, e.g. 2026-12-01T05:00:00Z"
        ) from None
    record: dict[str, Any] = {
        "kind": kind,
        "window_end": targets.rfc3339(now),
        "target": target_name,
        "cooldown_hours": cooldown_hours,
        "decided_utc": targets.rfc3339(datetime.now(UTC)),
    }
    if target_name == "none" and target is None:
        decision = rule.Decision(
            False, rule.reason_of(kind, detail), "trigger none: decisions only"
        )
        record |= {"fired": False, "reason": decision.reason, "why": decision.why}
    else:
        engine: targets.Target = target or target_of(target_name, trigger_url, kfp_host)
        with engine.exclusive():
            runs = engine.history()
            decision = rule.decide(kind, detail, now, runs, cooldown_hours)
            record |= {
                "fired": decision.fire,
                "reason": decision.reason,
                "why": decision.why,
                "retrains_seen": len(runs),
                "where": engine.where(),
            }
            if decision.fire:
                record["started"] = engine.start(
                    decision,
                    targets.rfc3339(now),
                    params or {},
                    monitor_run=monitor_run,
                    log=output / "retrain.log",
                )
    word = "started a retrain" if record["fired"] else "no retrain"
    log.info("trigger: %s (%s): %s", word, record["reason"], record["why"])
    output.mkdir(parents=True, exist_ok=True)
    fs.write_json_atomic(output / DECISION, record)
    return record
