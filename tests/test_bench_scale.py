"""bench/scale.py's own parts: the records it generates have what the steps must work through,
the same bytes from the same seed, and its growth fit and memory sampling measure what they
say."""

from __future__ import annotations

import collections
import json
import os
import sys
from pathlib import Path

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
import scale


def test_the_synthetic_reviews_have_dead_letters_duplicates_and_a_skewed_key(
    tmp_path: Path,
) -> None:
    n = 20_000
    files = scale.synthesize(tmp_path / "a", n)
    again = scale.synthesize(tmp_path / "b", n)
    assert [f.read_bytes() for f in files] == [f.read_bytes() for f in again]
    lines = files[0].read_text(encoding="utf-8").splitlines()
    assert len(lines) == n
    parsed, malformed = [], 0
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            malformed += 1
    assert 0.005 < malformed / n < 0.015
    assert 0.005 < sum(r["category"] == "meh" for r in parsed) / n < 0.015
    assert 0.08 < sum(r["category"] == "plot" for r in parsed) / n < 0.14
    exact = n - len({line for line in lines})
    assert 0.03 < exact / n < 0.07
    movies = collections.Counter(r["movie_name"] for r in parsed)
    top = movies.most_common(1)[0][1] / n
    assert 0.02 < top < 0.06, movies.most_common(3)  # one movie holds a few percent
    assert len(movies) > 50


def test_files_hold_a_fixed_number_of_records(tmp_path: Path) -> None:
    files = scale.synthesize(tmp_path, scale.PER_FILE + 10)
    assert [sum(1 for _ in f.open()) for f in files] == [scale.PER_FILE, 10]


def test_the_growth_exponent_is_the_log_log_slope() -> None:
    sizes = [1e4, 1e5, 1e6]
    assert scale.exponent(sizes, [2.0, 20.0, 200.0]) == 1.0
    assert scale.exponent(sizes, [1.0, 100.0, 10_000.0]) == 2.0
    assert scale.exponent([1e4], [1.0]) is None


def test_memory_is_sampled_over_the_process_tree() -> None:
    import subprocess

    child = subprocess.Popen(
        [sys.executable, "-c", "b = bytearray(200 << 20); import time; time.sleep(30)"]
    )
    try:
        import time

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if scale.tree_pss_mb([child.pid]) > 200:
                break
            time.sleep(0.1)
        assert scale.tree_pss_mb([child.pid]) > 200
        assert scale.tree_pss_mb([os.getpid()]) > scale.tree_pss_mb([child.pid])  # parent+child
    finally:
        child.kill()
        child.wait()
