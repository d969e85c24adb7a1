"""The dataset statistics' one combine gives what the separate combines gave: _Basic over
every cell and ApproximateQuantiles.PerKey over the present measures."""

from __future__ import annotations

import random
from typing import Any

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to

from components.dataset.stats import QUANTILES, _Basic, _BasicAndQuantiles, _measure


def _cells() -> list[tuple[str, Any]]:
    rng = random.Random(3)
    cells: list[tuple[str, Any]] = []
    for i in range(3000):
        cells.append(("number", None if i % 9 == 0 else rng.gauss(40, 12)))
        cells.append(("text", None if i % 5 == 0 else "x" * rng.randint(0, 60)))
        cells.append(("int", rng.randint(-3, 3)))
        cells.append(("missing", None))  # never present: no quantiles
    return cells


def test_one_combine_equals_the_separate_ones() -> None:
    cells = _cells()
    with beam.Pipeline() as p:
        pcoll = p | beam.Create(cells)
        combined = pcoll | "Combined" >> beam.CombinePerKey(_BasicAndQuantiles())
        basic = pcoll | "Basic" >> beam.CombinePerKey(_Basic())
        quantiles = (
            pcoll
            | beam.Filter(lambda kv: kv[1] is not None)
            | beam.MapTuple(lambda k, v: (k, _measure(v)))
            | beam.ApproximateQuantiles.PerKey(QUANTILES)
        )
        separate = (
            {"basic": basic, "quantiles": quantiles}
            | beam.CoGroupByKey()
            | beam.MapTuple(
                lambda k, parts: (k, (parts["basic"][0], list(next(iter(parts["quantiles"]), []))))
            )
        )
        joined = (
            {"combined": combined, "separate": separate}
            | "Join" >> beam.CoGroupByKey()
            | beam.MapTuple(lambda k, parts: (k, parts["combined"] == parts["separate"]))
        )
        assert_that(
            joined,
            equal_to([("number", True), ("text", True), ("int", True), ("missing", True)]),
        )


def test_missing_only_feature_has_no_quantiles() -> None:
    fn = _BasicAndQuantiles()
    acc = fn.create_accumulator()
    for _ in range(4):
        acc = fn.add_input(acc, None)
    basic, quantiles = fn.extract_output(fn.merge_accumulators([acc, fn.create_accumulator()]))
    assert quantiles == [] and basic["count"] == 4 and basic["missing"] == 4
    assert basic["min"] is None and basic["mean"] is None
