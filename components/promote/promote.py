"""Apply an A/B readout's decision to the registry: promote (the challenger becomes champion),
roll back (the challenger is withdrawn, and remembered in the registry's rejected.json with its
model digest, so a retrained twin is not tested again) or continue; or ramp the challenger's
share. Every move is a compare-and-swap against what the readout saw, so a decision about an
experiment that has since changed is refused (exit 2, read out again) instead of applied to the
wrong version, and against the whole pointer read here, so a writer racing this one makes it
fail retryably (exit 75) having changed nothing."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from components.common import fs, kfp_io
from components.common.artifacts import DECISIONS, Readout
from components.common.checks import check_percent
from components.common.errors import InputDataError
from components.common.kserve import load_serving, write_manifest
from components.common.model import load_model
from components.common.registry import MOVE_FIELDS, Registry

log = logging.getLogger(__name__)


def read_decision(uri: str) -> dict[str, Any]:
    """The readout's decision at `uri`, checked: InputDataError naming the file and the field
    when it is not JSON or not a decision (bad input: no rerun of promote can fix it)."""
    decision = fs.read_json(uri)
    if not isinstance(decision, dict):
        raise InputDataError(f"{uri}: expected a JSON object, got {type(decision).__name__}")
    if decision.get("decision") not in DECISIONS:
        raise InputDataError(
            f"{uri}: decision {decision.get('decision')!r} is not one of {DECISIONS}"
        )
    for key in ("challenger", "champion", "read_utc"):
        if not isinstance(decision.get(key), str | None):
            raise InputDataError(f"{uri}: {key} {decision.get(key)!r} is not a string or null")
    reasons = decision.get("reasons", [])
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        raise InputDataError(f"{uri}: reasons {reasons!r} is not a list of strings")
    return decision


def apply(
    decision: dict[str, Any], registry: Registry, source: str = "the readout"
) -> dict[str, Any]:
    """Move the pointers the decision asks for; idempotent (a rerun after a kill finishes it).
    Every move expects the pointer as read here: a racing writer makes it fail retryably."""
    word = decision.get("decision")
    if word not in DECISIONS:
        raise InputDataError(f"{source}: decision {word!r} is not one of {DECISIONS}")
    tested, champion_seen = decision.get("challenger"), decision.get("champion")
    champion_doc, challenger_doc = registry.read("champion"), registry.read("challenger")
    champion, challenger = (
        registry.live("champion", champion_doc),
        registry.live("challenger", challenger_doc),
    )
    now_champion = champion["version"] if champion else None
    now_challenger = challenger["version"] if challenger else None
    reason = f"A/B readout {decision.get('read_utc', '')}: " + "; ".join(
        decision.get("reasons", [])
    )
    moved = []
    rejected: dict[str, Any] | None = None
    if word == "promote" and tested is not None:
        if now_champion != tested:
            if now_champion != champion_seen:
                raise InputDataError(
                    f"{source}: the champion is {now_champion} now, the readout saw "
                    f"{champion_seen}; the decision is stale: read out again"
                )
            registry.move(
                "champion",
                tested,
                reason,
                expect=champion,
            )
            moved.append("champion")
        if now_challenger == tested:
            registry.move("challenger", None, f"promoted to champion: {reason}", expect=challenger)
            moved.append("challenger")
    elif word == "rollback" and tested is not None:
        if now_challenger not in (tested, None):
            raise InputDataError(
                f"{source}: the challenger is {now_challenger} now, the readout tested "
                f"{tested}; the decision is stale: read out again"
            )
        if now_challenger == tested:
            registry.move("challenger", None, f"rolled back: {reason}", expect=challenger)
            moved.append("challenger")
        if tested != now_champion and tested in registry.versions():
            # Remembered, so a retrained twin of it is not blessed or published again; after
            # the move, and idempotent: a rerun after a kill between the two records it.
            why = "; ".join(decision.get("reasons", [])) or "rolled back by the A/B readout"
            rejected = registry.reject(tested, why, champion=now_champion)
    champion, challenger = registry.champion(), registry.challenger()
    result = {
        "decision": word,
        "moved": moved,
        "champion": champion["version"] if champion else None,
        "challenger": challenger["version"] if challenger else None,
    }
    if rejected is not None:
        result["rejected"] = {k: rejected[k] for k in ("version", "model_digest")}
    log.info("applied %s: %s", word, result)
    return result


def ramp(registry: Registry, percent: float, what: str = "ramp percent") -> dict[str, Any]:
    """Give the challenger a larger share. Only upwards: buckets are added, so units already in
    the challenger arm stay there (lowering it would move them back). The move expects the
    pointer read here, so of two racing ramps one wins and the other fails retryably; rerun, it
    applies or is refused as lower."""
    percent = check_percent(percent, what)
    challenger = registry.challenger()
    if challenger is None:
        raise InputDataError(f"{registry.base} has no challenger to ramp")
    if percent < challenger["percent"]:
        raise InputDataError(
            f"ramp to {percent}% is below the current {challenger['percent']}%: that would move "
            "units already in the challenger arm back; roll back or start a new challenger"
        )
    fields = {k: v for k, v in challenger.items() if k not in MOVE_FIELDS}
    fields["percent"] = percent
    return registry.move(
        "challenger",
        challenger["version"],
        f"ramp {challenger['percent']}% -> {percent}%",
        expect=challenger,
        **fields,
    )


def run(
    readout: str | None,
    ramp_percent: float | None,
    config_uri: str,
    registry_root: str,
    manifest_out: Path,
    record_out: Path | None = None,
    executor_input: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The promote step: apply the decision in the `readout` folder, or ramp the challenger to
    `ramp_percent`; then re-render the InferenceService (once there is a champion) and record
    the moves (`record_out`, the KFP record artifact)."""
    registry = Registry(registry_root, load_model(config_uri).name)
    if readout is not None:
        uri = fs.join(str(readout), Readout.DECISION)
        result = apply(read_decision(uri), registry, uri)
    else:
        if ramp_percent is None:
            raise InputDataError("give either a readout folder or a ramp percent")
        pointer = ramp(registry, ramp_percent, "--ramp-percent")
        result = {
            "decision": "ramp",
            "challenger": pointer["version"],
            "percent": pointer["percent"],
        }
    if registry.champion() is not None:
        write_manifest(load_model(config_uri), load_serving(config_uri), registry, manifest_out)
    if record_out:
        fs.write_json_atomic(record_out, result)
    kfp_io.write_executor_output(executor_input, {"record": result})
    return result
