"""Apply an A/B readout's decision to the registry: promote (the challenger becomes champion),
roll back (the challenger is withdrawn) or continue; or ramp the challenger's share. Every move
is a compare-and-swap against what the readout saw, so a decision about an experiment that has
since changed is refused instead of applied to the wrong version."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from components.common import fs, kfp_io
from components.common.artifacts import DECISIONS, Readout
from components.common.errors import ConflictError, InputDataError
from components.common.kserve import load_serving, write_manifest
from components.common.model import load_model
from components.common.registry import Registry

log = logging.getLogger(__name__)


def apply(decision: dict[str, Any], registry: Registry) -> dict[str, Any]:
    """Move the pointers the decision asks for; idempotent (a rerun after a kill finishes it)."""
    word = decision.get("decision")
    if word not in DECISIONS:
        raise InputDataError(f"decision {word!r} is not one of {DECISIONS}")
    tested, champion_seen = decision.get("challenger"), decision.get("champion")
    champion, challenger = registry.champion(), registry.challenger()
    now_champion = champion["version"] if champion else None
    now_challenger = challenger["version"] if challenger else None
    reason = f"A/B readout {decision.get('read_utc', '')}: " + "; ".join(
        decision.get("reasons", [])
    )
    moved = []
    if word == "promote" and tested is not None:
        if now_champion != tested:
            if now_champion != champion_seen:
                raise ConflictError(
                    f"champion is {now_champion}, the readout saw {champion_seen}; read out again"
                )
            registry.move("champion", tested, reason, expect=champion_seen)
            moved.append("champion")
        if now_challenger == tested:
            registry.move("challenger", None, f"promoted to champion: {reason}", expect=tested)
            moved.append("challenger")
    elif word == "rollback" and tested is not None:
        if now_challenger not in (tested, None):
            raise ConflictError(
                f"challenger is {now_challenger}, the readout tested {tested}; read out again"
            )
        if now_challenger == tested:
            registry.move("challenger", None, f"rolled back: {reason}", expect=tested)
            moved.append("challenger")
    champion, challenger = registry.champion(), registry.challenger()
    result = {
        "decision": word,
        "moved": moved,
        "champion": champion["version"] if champion else None,
        "challenger": challenger["version"] if challenger else None,
    }
    log.info("applied %s: %s", word, result)
    return result


def ramp(registry: Registry, percent: float) -> dict[str, Any]:
    """Give the challenger a larger share. Only upwards: buckets are added, so units already in
    the challenger arm stay there (lowering it would move them back)."""
    challenger = registry.challenger()
    if challenger is None:
        raise InputDataError(f"{registry.base} has no challenger to ramp")
    if percent < challenger["percent"]:
        raise InputDataError(
            f"ramp to {percent}% is below the current {challenger['percent']}%: that would move "
            "units already in the challenger arm back; roll back or start a new challenger"
        )
    fields = {
        k: v
        for k, v in challenger.items()
        if k not in ("version", "previous", "moved_utc", "reason")
    }
    fields["percent"] = percent
    return registry.move(
        "challenger",
        challenger["version"],
        f"ramp {challenger['percent']}% -> {percent}%",
        expect=challenger["version"],
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
        result = apply(fs.read_json(fs.join(str(readout), Readout.DECISION)), registry)
    else:
        if ramp_percent is None:
            raise InputDataError("give either a readout folder or a ramp percent")
        pointer = ramp(registry, ramp_percent)
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
