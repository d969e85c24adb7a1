"""The rule that keeps a persistent drift from starting a retrain every hour.

A retrain starts for a verdict (drift, decay) only when no retrain is in flight and none was
started for a verdict in the cooldown before `now` (the monitor window's end, so a replay on a
simulated clock decides as the hours would have); a failed one counts, or a retrain that fails
would be started again every hour. A new partition starts one unless a retrain is in flight (the
partition is then read by the run after it) or one already ran, or runs, for that partition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

VERDICTS = ("drift", "decay")  # the monitor's verdicts that ask for a retrain
NEW_DATA = "new-data"
KINDS = (*VERDICTS, NEW_DATA)


@dataclass(frozen=True)
class Run:
    """A retrain run as the rule sees it, from the engine's own records."""

    name: str
    started: datetime | None  # its scheduled time (the data window's end), else its creation
    reason: str  # its `reason` parameter: manual, schedule, backfill, "drift: ...", ...
    status: str  # running | succeeded | failed | cancelled (engine words mapped to these)

    @property
    def in_flight(self) -> bool:
        return self.status == "running"

    @property
    def kind(self) -> str:
        return self.reason.partition(":")[0].strip()


@dataclass(frozen=True)
class Decision:
    fire: bool
    reason: str  # the retrain's reason parameter: "<kind>: <detail>"
    why: str  # one line: why it fires or why not


def reason_of(kind: str, detail: str) -> str:
    detail = " ".join(detail.split())
    return f"{kind}: {detail}" if detail else kind


def decide(
    kind: str, detail: str, now: datetime, runs: Sequence[Run], cooldown_hours: float
) -> Decision:
    """Whether a retrain for `kind` (drift, decay, new-data, or the monitor's ok) starts now."""
    reason = reason_of(kind, detail)
    if kind not in KINDS:
        return Decision(False, reason, f"verdict {kind}: nothing to retrain for")
    flying = [r for r in runs if r.in_flight]
    if flying:
        return Decision(
            False,
            reason,
            f"retrain {flying[0].name} ({flying[0].reason}) is in flight; one at a time",
        )
    if kind == NEW_DATA:
        same = [r for r in runs if r.reason == reason and r.status != "failed"]
        if same:
            return Decision(False, reason, f"{detail} was already retrained on by {same[0].name}")
        return Decision(True, reason, f"new partition {detail}")
    cooldown = timedelta(hours=cooldown_hours)
    recent = sorted(
        (
            r
            for r in runs
            if r.kind in VERDICTS and r.started is not None and now - cooldown < r.started <= now
        ),
        key=lambda r: r.started or now,
    )
    if recent:
        last = recent[-1]
        hours = (now - (last.started or now)).total_seconds() / 3600
        return Decision(
            False,
            reason,
            f"cooldown: {last.name} started for {last.kind} {hours:.1f} h before "
            f"{now:%Y-%m-%dT%H:%MZ} (cooldown {cooldown_hours:g} h)",
        )
    return Decision(True, reason, f"verdict {kind}, no retrain in flight or in the cooldown")
