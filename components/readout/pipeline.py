"""The readout's Beam job: parse the request log and the outcome events (malformed lines to a
dead-letter output), keep the current experiment's requests, join outcomes to requests by
request id or unit id (CoGroupByKey), summarise each unit, and reduce latency per arm and per
arm and time bucket. `summarize_unit` is plain Python: the replay simulator's fast path uses it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.io.textio import ReadFromTextWithFilename, WriteToText
from apache_beam.transforms.stats import ApproximateQuantiles

from components.common import fs
from components.common.artifacts import Readout, ServingLogs
from components.readout import stats

DEAD = "dead_letter"
ARMS = ("champion", "challenger")
STATUSES = ("ok", "error", "bad_request")
NOT_ROUTED = "not_routed"  # request lines with no arm (ServingLogs.NOT_ROUTED): counted apart


class NotRouted(Exception):
    """A request line answered outside the router (a rejection, a direct call): not arm traffic,
    not malformed either; the job counts it by its status."""


def parse_time(value: Any) -> dt.datetime:
    if not isinstance(value, str):
        raise ValueError(f"time {value!r} is not an ISO-8601 string")
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"time {value!r} has no time zone; log UTC times with +00:00 or Z")
    return parsed


def _check(row: Any, fields: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise ValueError(f"a line is {type(row).__name__}, expected a JSON object")
    for name, kinds in fields.items():
        if not isinstance(row.get(name), kinds) or isinstance(row.get(name), bool):
            raise ValueError(f"field {name!r} is {row.get(name)!r}, expected {kinds}")
    return row


def parse_request(line: str) -> dict[str, Any]:
    raw = json.loads(line)
    if isinstance(raw, dict) and raw.get("status") in ServingLogs.NOT_ROUTED:
        raise NotRouted(raw["status"])
    row = _check(
        raw,
        {
            "request_id": str,
            "unit_id": str,
            "arm": str,
            "status": str,
            "latency_ms": (int, float),
            "challenger_percent": (int, float),
        },
    )
    if row["arm"] not in ARMS or row["status"] not in STATUSES:
        raise ValueError(
            f"arm {row['arm']!r} / status {row['status']!r}: expected {ARMS} / {STATUSES}"
        )
    row["epoch"] = parse_time(row.get("time")).timestamp()
    return row


def parse_outcome(line: str, key: str) -> dict[str, Any]:
    row = _check(json.loads(line), {key: str, "value": (int, float)})
    parse_time(row.get("time"))
    return row


class ParseLines(beam.DoFn):
    """file:line JSON -> parsed rows; unparseable lines to DEAD with the reason."""

    def __init__(self, parse: Any, kind: str) -> None:
        self.parse, self.kind = parse, kind

    def process(self, item: tuple[str, str]) -> Iterator[Any]:
        source, line = item
        if not line.strip():
            return
        try:
            yield self.parse(line)
        except NotRouted as skipped:
            beam.metrics.Metrics.counter("readout", f"{self.kind}_not_routed").inc()
            yield pvalue.TaggedOutput(NOT_ROUTED, str(skipped))
        except (ValueError, TypeError) as err:  # json.JSONDecodeError is a ValueError
            beam.metrics.Metrics.counter("readout", f"{self.kind}_dead_letter").inc()
            yield pvalue.TaggedOutput(
                DEAD, {"source": source, "kind": self.kind, "raw": line[:2000], "reason": str(err)}
            )


def summarize_unit(
    unit_id: str, requests: Iterable[dict[str, Any]], unit_outcome: float | None = None
) -> dict[str, Any]:
    """One unit's summary. Its value is `unit_outcome` (join on unit id: the sum of its outcome
    events) or the mean outcome of its answered requests (join on request id); a unit whose
    requests all failed has value 0, so failures count against their arm."""
    rows = sorted(requests, key=lambda r: (r["epoch"], r["request_id"]))
    arms = sorted({r["arm"] for r in rows})
    ok = [r for r in rows if r["status"] == "ok"]
    if unit_outcome is not None:
        value = float(unit_outcome)
    else:
        value = sum(r.get("outcome", 0.0) for r in ok) / len(ok) if ok else 0.0
    return {
        "unit_id": unit_id,
        "arm": rows[0]["arm"] if len(arms) == 1 else "crossed",
        "arms": arms,
        "first_time": rows[0]["epoch"],
        "challenger_percent": rows[0]["challenger_percent"],
        "requests": len(rows),
        "errors": sum(1 for r in rows if r["status"] == "error"),
        "bad_requests": sum(1 for r in rows if r["status"] == "bad_request"),
        "value": value,
    }


class JoinOutcomes(beam.PTransform):
    """(requests, outcomes) -> unit summaries; outcomes that match no request to DEAD."""

    def __init__(self, join_on: str) -> None:
        super().__init__()
        self.join_on = join_on

    def expand(self, pcolls: dict[str, beam.PCollection]) -> Any:
        key = self.join_on

        def by_request(kv: tuple[str, dict[str, list[Any]]]) -> Iterator[Any]:
            _, group = kv
            requests, outcomes = list(group["requests"]), list(group["outcomes"])
            if not requests:
                for o in outcomes:
                    yield pvalue.TaggedOutput(DEAD, _orphan(o, key))
                return
            first = min(requests, key=lambda r: r["epoch"])  # a request logged twice counts once
            yield first["unit_id"], {**first, "outcome": sum(o["value"] for o in outcomes)}

        def by_unit(kv: tuple[str, dict[str, list[Any]]]) -> Iterator[Any]:
            unit_id, group = kv
            requests, outcomes = list(group["requests"]), list(group["outcomes"])
            if not requests:
                for o in outcomes:
                    yield pvalue.TaggedOutput(DEAD, _orphan(o, key))
                return
            yield summarize_unit(unit_id, requests, sum(o["value"] for o in outcomes))

        joined = {
            "requests": pcolls["requests"] | "KeyRequests" >> beam.Map(lambda r: (r[key], r)),
            "outcomes": pcolls["outcomes"] | "KeyOutcomes" >> beam.Map(lambda o: (o[key], o)),
        } | "Join" >> beam.CoGroupByKey()
        if key == "unit_id":
            return joined | "Summarize" >> beam.FlatMap(by_unit).with_outputs(DEAD, main="units")
        pairs = joined | "Attach" >> beam.FlatMap(by_request).with_outputs(DEAD, main="requests")
        units = (
            pairs.requests
            | "ByUnit" >> beam.GroupByKey()
            | "Summarize" >> beam.MapTuple(summarize_unit)
        )
        return {"units": units, DEAD: pairs[DEAD]}


def _orphan(outcome: dict[str, Any], key: str) -> dict[str, Any]:
    return {
        "source": "outcomes",
        "kind": "outcome",
        "raw": json.dumps(outcome, sort_keys=True),
        "reason": f"no request of this experiment has {key} {outcome[key]!r}",
    }


def _quantiles(kv: tuple[Any, list[float]]) -> tuple[Any, dict[str, float]]:
    key, q = kv  # 101 quantiles: q[50] the median, q[99] the 99th percentile
    return key, {"p50_ms": q[50], "p99_ms": q[99], "max_ms": q[-1]}


class LatencyByArm(beam.PTransform):
    """Requests per arm and per (arm, time bucket): counts, errors, p50/p99 latency."""

    def __init__(self, bucket_seconds: int) -> None:
        super().__init__()
        self.bucket = bucket_seconds

    def expand(self, requests: beam.PCollection) -> Any:
        step = self.bucket

        def keys(r: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
            yield r["arm"], r
            yield f"{r['arm']}|{int(r['epoch'] // step * step)}", r

        keyed = requests | "Keys" >> beam.FlatMap(keys)
        quantiles = (
            keyed
            | "Latency" >> beam.MapTuple(lambda k, r: (k, float(r["latency_ms"])))
            | "Quantiles" >> ApproximateQuantiles.PerKey(num_quantiles=101)
            | "Named" >> beam.Map(_quantiles)
        )
        counts = keyed | "Counts" >> beam.CombinePerKey(_CountErrors())
        histograms = (
            keyed
            | "OverallOnly" >> beam.Filter(lambda kr: "|" not in kr[0])
            | "Bins" >> beam.MapTuple(lambda k, r: (k, stats.latency_bin(float(r["latency_ms"]))))
            | "Histogram" >> beam.CombinePerKey(_Histogram())
        )

        def row(k: str, g: dict[str, Any]) -> dict[str, Any]:
            out = {"key": k, **next(iter(g["counts"])), **next(iter(g["latency"]))}
            for h in g["histogram"]:  # per arm only: what the latency guardrail counts
                out["histogram"] = h
            return out

        return (
            {"latency": quantiles, "counts": counts, "histogram": histograms}
            | "Together" >> beam.CoGroupByKey()
            | "Row" >> beam.MapTuple(row)
        )


class _Histogram(beam.CombineFn):
    """Latency bins (stats.latency_bin) -> {bin: count}, as stats.latency_histogram makes it."""

    def create_accumulator(self) -> dict[int, int]:
        return {}

    def add_input(self, acc: dict[int, int], b: int) -> dict[int, int]:
        acc[b] = acc.get(b, 0) + 1
        return acc

    def merge_accumulators(self, accs: Iterable[dict[int, int]]) -> dict[int, int]:
        out: dict[int, int] = {}
        for acc in accs:
            for b, n in acc.items():
                out[b] = out.get(b, 0) + n
        return out

    def extract_output(self, acc: dict[int, int]) -> dict[str, int]:
        return {str(b): n for b, n in sorted(acc.items())}


class _CountErrors(beam.CombineFn):
    def create_accumulator(self) -> tuple[int, int]:
        return 0, 0

    def add_input(self, acc: tuple[int, int], r: dict[str, Any]) -> tuple[int, int]:
        return acc[0] + 1, acc[1] + (r["status"] == "error")

    def merge_accumulators(self, accs: Iterable[tuple[int, int]]) -> tuple[int, int]:
        accs = list(accs)
        return sum(a[0] for a in accs), sum(a[1] for a in accs)

    def extract_output(self, acc: tuple[int, int]) -> dict[str, int]:
        return {"requests": acc[0], "errors": acc[1]}


def run(
    requests_glob: str,
    outcomes_glob: str,
    challenger: str,
    join_on: str,
    bucket_seconds: int,
    out_dir: str,
    beam_args: list[str],
) -> dict[str, int]:
    """Run the job; its files land in out_dir (units, latency, dead letters); its counts. An
    empty `outcomes_glob` means no outcome files exist yet (every request's outcome is 0)."""
    from components.common.beam_options import pipeline_options

    def write(pcoll: beam.PCollection, name: str) -> None:
        (
            pcoll
            | f"Json{name}" >> beam.Map(lambda r: json.dumps(r, sort_keys=True))
            | f"Write{name}"
            >> WriteToText(f"{out_dir}/{name}", shard_name_template="", num_shards=1)
        )

    with beam.Pipeline(options=pipeline_options(beam_args)) as p:
        requests = (
            p
            | "ReadRequests" >> ReadFromTextWithFilename(requests_glob)
            | "ParseRequests"
            >> beam.ParDo(ParseLines(parse_request, "request")).with_outputs(
                DEAD, NOT_ROUTED, main="rows"
            )
        )
        outcome_lines = (
            p | "ReadOutcomes" >> ReadFromTextWithFilename(outcomes_glob)
            if outcomes_glob
            else p | "NoOutcomes" >> beam.Create([])
        )
        outcomes = outcome_lines | "ParseOutcomes" >> beam.ParDo(
            ParseLines(lambda line: parse_outcome(line, join_on), "outcome")
        ).with_outputs(DEAD, main="rows")
        current = requests.rows | "ThisExperiment" >> beam.Filter(
            lambda r: r.get("challenger") == challenger
        )
        joined = {"requests": current, "outcomes": outcomes.rows} | "JoinOutcomes" >> JoinOutcomes(
            join_on
        )
        write(joined["units"], Readout.UNITS)
        write(current | "LatencyByArm" >> LatencyByArm(bucket_seconds), Readout.LATENCY)
        write(
            (requests[DEAD], outcomes[DEAD], joined[DEAD]) | "DeadLetters" >> beam.Flatten(),
            Readout.DEAD_LETTER,
        )
        counted = {
            "requests": requests.rows | "CountRequests" >> beam.combiners.Count.Globally(),
            "experiment_requests": current | "CountCurrent" >> beam.combiners.Count.Globally(),
            "outcomes": outcomes.rows | "CountOutcomes" >> beam.combiners.Count.Globally(),
        }
        for status in ServingLogs.NOT_ROUTED:  # e.g. rejected: 401, 413, 408 before routing
            counted[status] = (
                requests[NOT_ROUTED]
                | f"Only{status}" >> beam.Filter(lambda s, status=status: s == status)
                | f"Count{status}" >> beam.combiners.Count.Globally()
            )
        (
            [pc | f"Name{k}" >> beam.Map(lambda n, k=k: (k, n)) for k, pc in counted.items()]
            | "AllCounts" >> beam.Flatten()
            | "OneDict" >> beam.combiners.ToDict()
            | "JsonCounts" >> beam.Map(json.dumps)
            | "WriteCounts"
            >> WriteToText(f"{out_dir}/{Readout.COUNTS}", shard_name_template="", num_shards=1)
        )
    return dict(fs.read_json(fs.join(out_dir, Readout.COUNTS)))
