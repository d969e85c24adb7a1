"""Sticky A/B assignment: which arm a unit (a user, a session, a request) belongs to.

The arm is a pure function of (experiment, salt, unit id, challenger share): a SHA-256 of the first
three places the unit in one of 10,000 buckets, and buckets below the share go to the challenger.
So a unit keeps its arm across restarts and machines (no state, no Python `hash()`), a new salt
reshuffles units independently of the old split, and ramping the share up only adds buckets:
units already in the challenger arm stay there. The router assigns with it and the readout joins
logged requests to arms with it (issue 6).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

BUCKETS = 10_000  # a share is exact to 0.01 percentage points
CHAMPION: Literal["champion"] = "champion"
CHALLENGER: Literal["challenger"] = "challenger"
Arm = Literal["champion", "challenger"]


def bucket(experiment: str, salt: str, unit_id: str) -> int:
    """The unit's bucket in [0, BUCKETS): uniform over units, stable everywhere."""
    if not unit_id:
        raise ValueError("unit id is empty: every request needs the id of the unit it belongs to")
    key = f"{experiment}\x1f{salt}\x1f{unit_id}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % BUCKETS


@dataclass(frozen=True)
class Split:
    """An experiment's traffic split: `challenger_percent` of the units see the challenger."""

    experiment: str
    salt: str
    challenger_percent: float

    def __post_init__(self) -> None:
        if not self.experiment:
            raise ValueError("split: `experiment` is empty; name the experiment")
        if not 0 <= self.challenger_percent <= 100:
            raise ValueError(
                f"split '{self.experiment}': challenger_percent {self.challenger_percent} is "
                "outside [0, 100]"
            )
        if round(self.challenger_percent * BUCKETS / 100, 6) % 1:
            raise ValueError(
                f"split '{self.experiment}': challenger_percent {self.challenger_percent} is finer "
                f"than the {100 / BUCKETS} percentage points buckets allow"
            )

    @property
    def threshold(self) -> int:
        return round(self.challenger_percent * BUCKETS / 100)

    def arm(self, unit_id: str) -> Arm:
        return (
            CHALLENGER if bucket(self.experiment, self.salt, unit_id) < self.threshold else CHAMPION
        )
