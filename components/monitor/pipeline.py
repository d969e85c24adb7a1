"""The monitor's Beam job: parse the request log (malformed lines to a dead-letter output, lines
answered outside the router or with an error counted apart), keep the window's requests, bin
every logged input and prediction per (model version, feature, time bucket), count text words,
and join outcome events to the predictions by request id (CoGroupByKey).

A step imports only itself and components.common (tests/test_layout.py), so the small
line-parsing DoFn mirrors the A/B readout's (components.readout.pipeline.ParseLines) rather than
importing it.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator, Mapping
from typing import Any

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.io.textio import ReadFromTextWithFilename, WriteToText

from components.common import fs
from components.common.artifacts import ServingLogs
from components.common.features import words
from components.common.times import parse_utc
from components.monitor.drift import PREDICTION, PREDICTION_BINS, FeaturePlan

BINS = "bins.jsonl"  # {version, feature, measure, bucket, bin, n}
WORDS = "words.jsonl"  # {version, feature, bucket, half, word, n}
JOINED = "joined.jsonl"  # {version, time, prediction, value}: one per joined prediction
DEAD_LETTER = "dead_letter.jsonl"
COUNTS = "counts.json"
OUTSIDE = "outside_window"
UNMATCHED = "unmatched"
DEAD = "dead_letter"
NOT_ROUTED = "not_routed"
TYPES: dict[str, tuple[type, ...]] = {
    "numeric": (int, float),
    "categorical": (str, int),
    "text": (str,),
}


class NotRouted(Exception):
    """A request line answered outside the router (a rejection, a direct call) or not `ok`:
    no prediction to measure, not malformed either; counted by its status."""


def parse_time(value: Any) -> float:
    if not isinstance(value, str):
        raise ValueError(f"time {value!r} is not an RFC 3339 string")
    return parse_utc(value, "time").timestamp()


class ParseLines(beam.DoFn):
    """(file, line) -> parsed rows; unparseable lines to DEAD with the file, the raw line and
    the reason, lines of requests not answered to NOT_ROUTED (both counted)."""

    def __init__(self, parse: Any, kind: str) -> None:
        self.parse, self.kind = parse, kind

    def process(self, item: tuple[str, str]) -> Iterator[Any]:
        source, line = item
        if not line.strip():
            return
        try:
            yield self.parse(line)
        except NotRouted as skipped:
            beam.metrics.Metrics.counter("monitor", f"{self.kind}_not_answered").inc()
            yield pvalue.TaggedOutput(NOT_ROUTED, str(skipped))
        except (ValueError, TypeError) as err:  # json.JSONDecodeError is a ValueError
            beam.metrics.Metrics.counter("monitor", f"{self.kind}_dead_letter").inc()
            yield pvalue.TaggedOutput(
                DEAD, {"source": source, "kind": self.kind, "raw": line[:2000], "reason": str(err)}
            )


def parse_request(line: str, plans: Mapping[str, FeaturePlan]) -> dict[str, Any]:
    """One request line -> {request_id, model_version, epoch, instances, predictions}; a line
    not answered by the router, or not answered `ok`, raises NotRouted (counted by status)."""
    raw = json.loads(line)
    if not isinstance(raw, dict):
        raise ValueError(f"a line is {type(raw).__name__}, expected a JSON object")
    status = raw.get("status")
    if status in ServingLogs.NOT_ROUTED or (isinstance(status, str) and status != "ok"):
        raise NotRouted(status)
    for name in ("request_id", "model_version", "status"):
        if not isinstance(raw.get(name), str):
            raise ValueError(f"field {name!r} is {raw.get(name)!r}, expected a string")
    epoch = parse_time(raw.get("time"))
    instances, predictions = raw.get("instances"), raw.get("predictions")
    if not isinstance(instances, list) or not instances:
        raise ValueError(
            "no 'instances' list: the request log must hold the inputs (the router logs them "
            "beside the predictions) for the monitor to measure input drift"
        )
    if not isinstance(predictions, list) or len(predictions) != len(instances):
        raise ValueError(
            f"'predictions' is {predictions!r:.80}, expected a list of {len(instances)} numbers"
        )
    for i, (row, p) in enumerate(zip(instances, predictions, strict=True)):
        if not isinstance(row, dict):
            raise ValueError(f"instances[{i}] is {type(row).__name__}, expected an object")
        if not isinstance(p, int | float) or isinstance(p, bool) or not 0 <= p <= 1:
            raise ValueError(f"predictions[{i}] is {p!r}, expected a probability in [0, 1]")
        for name, plan in plans.items():
            value = row.get(name)
            if value is not None and (
                not isinstance(value, TYPES[plan.kind]) or isinstance(value, bool)
            ):
                raise ValueError(
                    f"instances[{i}].{name} is {value!r:.80}, expected a {plan.kind} value"
                )
    return {
        "request_id": raw["request_id"],
        "model_version": raw["model_version"],
        "epoch": epoch,
        "instances": instances,
        "predictions": [float(p) for p in predictions],
    }


def parse_outcome(line: str) -> dict[str, Any]:
    raw = json.loads(line)
    if not isinstance(raw, dict):
        raise ValueError(f"a line is {type(raw).__name__}, expected a JSON object")
    if not isinstance(raw.get("request_id"), str):
        raise ValueError(f"field 'request_id' is {raw.get('request_id')!r}, expected a string")
    value = raw.get("value")
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValueError(f"field 'value' is {value!r}, expected a number")
    index = raw.get("index", 0)
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise ValueError(f"field 'index' is {index!r}, expected the instance's position")
    parse_time(raw.get("time"))
    return {"request_id": raw["request_id"], "value": float(value), "index": index}


class InWindow(beam.DoFn):
    """Requests with start <= time < end; the others to OUTSIDE (counted, not dead letters)."""

    def __init__(self, start: float, end: float) -> None:
        self.start, self.end = start, end

    def process(self, row: dict[str, Any]) -> Iterator[Any]:
        if self.start <= row["epoch"] < self.end:
            yield row
        else:
            yield pvalue.TaggedOutput(OUTSIDE, row["request_id"])


class BinInputs(beam.DoFn):
    """A request -> ((version, feature, measure, bucket, bin), 1) per instance and feature, and
    ((version, feature, bucket, half, word), 1) per word of a text feature (tag "words"); `half`
    splits requests in two by a hash of their id."""

    def __init__(self, plans: Mapping[str, FeaturePlan], start: float, step: int) -> None:
        self.plans, self.start, self.step = dict(plans), start, step

    def process(self, row: dict[str, Any]) -> Iterator[Any]:
        version = row["model_version"]
        half = zlib.crc32(row["request_id"].encode()) % 2  # for the reference's own OOV rate
        bucket = self.start + (row["epoch"] - self.start) // self.step * self.step
        for instance, p in zip(row["instances"], row["predictions"], strict=True):
            b = min(int(p * PREDICTION_BINS), PREDICTION_BINS - 1)
            yield (version, PREDICTION, "value", bucket, str(b)), 1
            for name, plan in self.plans.items():
                value = instance.get(name)
                measure = "length" if plan.kind == "text" else "value"
                yield (version, name, measure, bucket, plan.bin(value)), 1
                if plan.kind == "text" and value is not None:
                    for w in words(value):
                        yield pvalue.TaggedOutput("words", ((version, name, bucket, half, w), 1))


def _attach(kv: tuple[str, dict[str, list[Any]]]) -> Iterator[Any]:
    """Outcomes of one request id onto its predictions: {version, time, prediction, value}
    per instance with an outcome (events of one instance summed; a request logged twice counts
    once); outcomes of requests not in the window to UNMATCHED."""
    request_id, group = kv
    requests, outcomes = list(group["requests"]), list(group["outcomes"])
    if not requests:
        for _ in outcomes:
            yield pvalue.TaggedOutput(UNMATCHED, request_id)
        return
    first = min(requests, key=lambda r: r["epoch"])
    values: dict[int, float] = {}
    for o in outcomes:
        values[o["index"]] = values.get(o["index"], 0.0) + o["value"]
    for i, p in enumerate(first["predictions"]):
        yield {
            "version": first["model_version"],
            "time": first["epoch"],
            "prediction": p,
            "value": values.get(i),
            "request_id": request_id,
        }
    for i in sorted(set(values) - set(range(len(first["predictions"])))):
        yield pvalue.TaggedOutput(
            DEAD,
            {
                "source": "outcomes",
                "kind": "outcome",
                "raw": json.dumps({"request_id": request_id, "index": i}),
                "reason": f"request {request_id} has {len(first['predictions'])} predictions; "
                f"no instance {i}",
            },
        )


def run(
    requests_glob: str,
    outcomes_glob: str,
    plans: Mapping[str, FeaturePlan],
    start: float,
    end: float,
    bucket_seconds: int,
    out_dir: str,
    beam_args: list[str],
) -> dict[str, int]:
    """Run the job over the requests with start <= time < end; its files land in out_dir (bins,
    words, joined predictions, dead letters, counts); its counts. An empty `outcomes_glob`:
    no outcome files exist (no live quality)."""
    from components.common.beam_options import pipeline_options

    def write(pcoll: beam.PCollection, name: str) -> None:
        (
            pcoll
            | f"Json{name}" >> beam.Map(lambda r: json.dumps(r, sort_keys=True))
            | f"Write{name}"
            >> WriteToText(f"{out_dir}/{name}", shard_name_template="", num_shards=1)
        )

    def count(pcoll: beam.PCollection, name: str) -> beam.PCollection:
        return (
            pcoll
            | f"Count{name}" >> beam.combiners.Count.Globally()
            | f"Name{name}" >> beam.Map(lambda n, name=name: (name, n))
        )

    with beam.Pipeline(options=pipeline_options(beam_args)) as p:
        parsed = (
            p
            | "ReadRequests" >> ReadFromTextWithFilename(requests_glob)
            | "ParseRequests"
            >> beam.ParDo(
                ParseLines(lambda line: parse_request(line, plans), "request")
            ).with_outputs(DEAD, NOT_ROUTED, main="rows")
        )
        window = parsed.rows | "InWindow" >> beam.ParDo(InWindow(start, end)).with_outputs(
            OUTSIDE, main="rows"
        )
        binned = window.rows | "BinInputs" >> beam.ParDo(
            BinInputs(plans, start, bucket_seconds)
        ).with_outputs("words", main="bins")
        write(
            binned.bins
            | "CountBins" >> beam.CombinePerKey(sum)
            | "BinRow"
            >> beam.MapTuple(
                lambda k, n: {
                    "version": k[0],
                    "feature": k[1],
                    "measure": k[2],
                    "bucket": k[3],
                    "bin": k[4],
                    "n": n,
                }
            ),
            BINS,
        )
        write(
            binned.words
            | "CountWords" >> beam.CombinePerKey(sum)
            | "WordRow"
            >> beam.MapTuple(
                lambda k, n: {
                    "version": k[0],
                    "feature": k[1],
                    "bucket": k[2],
                    "half": k[3],
                    "word": k[4],
                    "n": n,
                }
            ),
            WORDS,
        )
        outcome_lines = (
            p | "ReadOutcomes" >> ReadFromTextWithFilename(outcomes_glob)
            if outcomes_glob
            else p | "NoOutcomes" >> beam.Create([])
        )
        outcomes = outcome_lines | "ParseOutcomes" >> beam.ParDo(
            ParseLines(parse_outcome, "outcome")
        ).with_outputs(DEAD, NOT_ROUTED, main="rows")
        joined = (
            {
                "requests": window.rows | "KeyRequests" >> beam.Map(lambda r: (r["request_id"], r)),
                "outcomes": outcomes.rows
                | "KeyOutcomes" >> beam.Map(lambda o: (o["request_id"], o)),
            }
            | "Join" >> beam.CoGroupByKey()
            | "Attach" >> beam.FlatMap(_attach).with_outputs(UNMATCHED, DEAD, main="rows")
        )
        write(joined.rows | "WithOutcome" >> beam.Filter(lambda r: r["value"] is not None), JOINED)
        write(
            (parsed[DEAD], outcomes[DEAD], joined[DEAD]) | "DeadLetters" >> beam.Flatten(),
            DEAD_LETTER,
        )
        counted = [
            count(parsed.rows, "request_lines"),
            count(window.rows, "requests"),
            count(window[OUTSIDE], OUTSIDE),
            count(parsed[DEAD], "request_dead_letters"),
            count(outcomes.rows, "outcomes"),
            count(outcomes[DEAD], "outcome_dead_letters"),
            count(joined[UNMATCHED], "unmatched_outcomes"),
            count(joined[DEAD], "join_dead_letters"),
            count(parsed[NOT_ROUTED], "not_answered"),
        ]
        (
            counted
            | "AllCounts" >> beam.Flatten()
            | "OneDict" >> beam.combiners.ToDict()
            | "JsonCounts" >> beam.Map(json.dumps)
            | "WriteCounts"
            >> WriteToText(f"{out_dir}/{COUNTS}", shard_name_template="", num_shards=1)
        )
    return dict(fs.read_json(fs.join(out_dir, COUNTS)))
