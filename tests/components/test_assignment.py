"""Sticky A/B assignment: the same arm across restarts, the split within tolerance on 100k units,
ramping up keeps units in the challenger arm, salts independent, bad splits named."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
from scipy import stats

from components.common.assignment import BUCKETS, CHALLENGER, Split, bucket
from tests.conftest import REPO

UNITS = [f"user-{i}" for i in range(100_000)]


def test_same_unit_same_arm_across_restarts() -> None:
    """A fresh interpreter with another hash seed assigns the first 2,000 units identically."""
    split = Split("reviews-ab", "2026-11", 20)
    here = [split.arm(u) for u in UNITS[:2000]]
    code = (
        "import json; from components.common.assignment import Split; "
        "s = Split('reviews-ab', '2026-11', 20); "
        "print(json.dumps([s.arm(f'user-{i}') for i in range(2000)]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout) == here


@pytest.mark.parametrize("percent", [1, 10, 50, 90])
def test_split_is_within_tolerance_on_100k_units(percent: float) -> None:
    split = Split("reviews-ab", "s1", percent)
    share = sum(split.arm(u) == CHALLENGER for u in UNITS) / len(UNITS)
    p = percent / 100
    sigma = math.sqrt(p * (1 - p) / len(UNITS))
    assert abs(share - p) <= 4 * sigma, (share, p, sigma)


def test_buckets_are_uniform() -> None:
    counts = [0] * 100
    for u in UNITS:
        counts[bucket("reviews-ab", "s1", u) * 100 // BUCKETS] += 1
    assert stats.chisquare(counts).pvalue > 0.001


def test_ramp_up_keeps_challenger_units_in_the_challenger_arm() -> None:
    before = {u for u in UNITS if Split("reviews-ab", "s1", 10).arm(u) == CHALLENGER}
    after = {u for u in UNITS if Split("reviews-ab", "s1", 50).arm(u) == CHALLENGER}
    assert before and before <= after
    assert len(after) > 4 * len(before)


def test_a_new_salt_reshuffles_independently() -> None:
    """Under two salts at 50 %, about a quarter of the units are in the challenger arm twice."""
    a, b = Split("reviews-ab", "s1", 50), Split("reviews-ab", "s2", 50)
    both = sum(a.arm(u) == CHALLENGER and b.arm(u) == CHALLENGER for u in UNITS) / len(UNITS)
    assert abs(both - 0.25) <= 4 * math.sqrt(0.25 * 0.75 / len(UNITS))


def test_bad_splits_and_units_are_named() -> None:
    with pytest.raises(
        ValueError, match=r"split 'x': challenger_percent 120 is outside \[0, 100\]"
    ):
        Split("x", "s", 120)
    with pytest.raises(ValueError, match=r"finer than the 0.01 percentage points"):
        Split("x", "s", 12.345)
    with pytest.raises(ValueError, match=r"`experiment` is empty"):
        Split("", "s", 10)
    with pytest.raises(ValueError, match=r"unit id is empty"):
        Split("x", "s", 10).arm("")
    assert all(Split("x", "s", 0).arm(u) != CHALLENGER for u in UNITS[:1000])
    assert all(Split("x", "s", 100).arm(u) == CHALLENGER for u in UNITS[:1000])
