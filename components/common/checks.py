"""The checks every value that crosses a trust boundary goes through, defined once: a name that
becomes part of a path (`safe_name`) and a traffic share (`check_percent`, `Percent`).

A name joined into a path unchecked can climb out of its folder (`../../x`), name an absolute
path (`/etc`) or a sub-folder (`a/b`); a share unchecked (`nan`, `inf`, 150) is written into a
pointer that every model server then reads. Both are refused where they enter, with the field
named, as a ConfigError (exit 2: bad input, never retried).
"""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import AfterValidator

from components.common.assignment import BUCKETS
from components.common.errors import ConfigError

# One path component: starts with a letter or digit (so never `.`, `..` or a flag-like `-x`),
# then letters, digits, `.`, `_`, `-`; at most 128 characters (a file name holds 255).
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
_NAME = re.compile(NAME_PATTERN)


def safe_name(value: object, what: str) -> str:
    """`value` if it is one safe path component; ConfigError naming `what` otherwise."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        shown = repr(value) if not isinstance(value, str) or len(value) <= 80 else repr(value[:80])
        raise ConfigError(
            f"{what} {shown}{'...' if isinstance(value, str) and len(value) > 80 else ''} is "
            f"not a safe name: expected 1 to 128 of letters, digits, '.', '_', '-', starting "
            "with a letter or digit (no '/', no '..', no spaces)"
        )
    return value


def check_percent(value: object, what: str) -> float:
    """`value` as a traffic share: a finite number from 0 to 100, in steps the assignment's
    buckets can give (0.01 percentage points); ConfigError naming `what` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{what}: {value!r} is not a number; expected a percent from 0 to 100")
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(
            f"{what}: {value!r} is not a number; expected a percent from 0 to 100"
        ) from None
    if not math.isfinite(number) or not 0 <= number <= 100:
        raise ConfigError(f"{what}: {value!r} is not a percent from 0 to 100")
    if round(number * BUCKETS / 100, 6) % 1:
        raise ConfigError(
            f"{what}: {value!r} is finer than the {100 / BUCKETS} percentage points a share can "
            "be split into"
        )
    return number


def _percent_field(value: float) -> float:
    try:
        return check_percent(value, "percent")
    except ConfigError as err:
        raise ValueError(str(err).removeprefix("percent: ")) from None


# A config field holding a share: pydantic names the field in its error.
Percent = Annotated[float, AfterValidator(_percent_field)]
