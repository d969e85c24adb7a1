"""The end of a local run as the console shows it: an `argo get`-style tree of the tasks (STEP,
STATUS, DURATION, MESSAGE), the artifacts by task and name with short metrics, and a sentence
on the outcome (blessed or not and why, published as what, where the reports are).

Both runners' tasks are labelled the same way: by their display names, which are the KFP IR's
`taskInfo.name` (`ir_labels`) and, for the Argo Workflow, its task names (the only names it
carries). KFP's generated group names (`condition-branches-1`, an unnamed `condition-2`) are
not steps a user wrote: such groups are left out and their tasks shown one level up.
"""

from __future__ import annotations

import json
import os
import re
import textwrap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.common.artifacts import Blessing, DeployRecord
from components.common.progress import duration
from pipelines.ir.placeholders import EXECUTOR_OUTPUT
from pipelines.local.results import SUCCEEDED, TaskResult

GENERATED = re.compile(r"(condition-branches|condition|exit-handler|for-loop)-\d+")
_ITEM = re.compile(r"(?P<base>.+)\((?P<index>\d+):(?P<item>.*)\)")
_KFP_INPUT = re.compile(r"inputs\.parameter_values\['pipelinechannel--([\w-]+)'\]")
_CAST = re.compile(r"\b(?:int|float|bool|str)\(([\w-]+)\)")
SHOWN_METRICS = 4  # scalars shown per artifact; the rest are in its file
PREFERRED = ("roc_auc", "accuracy", "f1", "log_loss", "version", "run_id")
_PEEK = 1 << 20  # artifact files read for the outcome: JSON or HTML up to 1 MiB


# ---- labels ----------------------------------------------------------------------------------
def ir_labels(spec: dict[str, Any]) -> dict[str, str]:
    """Every task key the KFP IR runner uses (`dag/task`) -> its display name."""
    out: dict[str, str] = {}

    def walk(dag: dict[str, Any], prefix: str) -> None:
        for name, task in dag.get("tasks", {}).items():
            out[prefix + name] = task.get("taskInfo", {}).get("name", name)
            component = spec["components"][task["componentRef"]["name"]]
            if "dag" in component:
                walk(component["dag"], f"{prefix}{name}/")

    walk(spec["root"]["dag"], "")
    return out


def ir_leaf_labels(spec: dict[str, Any], dag: dict[str, Any]) -> Iterator[str]:
    """The display names of a DAG's container tasks, nested DAGs included (a skipped group's
    tasks, as the progress lines name them)."""
    for name, task in dag.get("tasks", {}).items():
        component = spec["components"][task["componentRef"]["name"]]
        if "dag" in component:
            yield from ir_leaf_labels(spec, component["dag"])
        else:
            yield task.get("taskInfo", {}).get("name", name)


def leaf(key: str) -> str:
    """A task's own name: the last part of its key (`dag/task` -> `task`)."""
    return key.rsplit("/", 1)[-1]


def label(key: str, labels: dict[str, str]) -> str:
    return labels.get(key) or leaf(key)


def readable_reason(reason: str) -> str:
    """A skip reason without the IR's plumbing: `int(inputs.parameter_values['pipelinechannel--
    train_workers'])` -> `train_workers`."""
    return _CAST.sub(r"\1", _KFP_INPUT.sub(r"\1", reason))


# ---- the tree --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    depth: int
    step: str
    status: str
    seconds: float | None
    message: str


def tree(results: dict[str, TaskResult], labels: dict[str, str]) -> list[Row]:
    """The tasks in the order they ran, sub-DAGs' tasks indented under them; a generated
    group's tasks one level up, the group itself left out."""
    rows = []
    for key, result in results.items():
        parts = key.split("/")
        ancestors = ["/".join(parts[: i + 1]) for i in range(len(parts) - 1)]
        item = _ITEM.fullmatch(parts[-1])
        if item and "/".join([*parts[:-1], item["base"]]) in results:
            ancestors.append("/".join([*parts[:-1], item["base"]]))
        if _hidden(key, results, labels):
            continue
        depth = sum(1 for a in ancestors if a in results and not _hidden(a, results, labels))
        message = readable_reason(result.reason)
        cached_from = getattr(result, "cached_from", "")
        if cached_from:
            message = f"reused from {cached_from}"
        if result.attempts > 1:
            message = "; ".join(m for m in (message, f"{result.attempts} attempts") if m)
        seconds = None if result.status in ("skipped", "omitted") else _seconds(key, results)
        rows.append(Row(depth, label(key, labels), result.status.capitalize(), seconds, message))
    return rows


def _hidden(key: str, results: dict[str, TaskResult], labels: dict[str, str]) -> bool:
    """A group under a generated name that ran: its tasks stand for it. (Skipped, it is shown:
    nothing else would say so.)"""
    result = results[key]
    return (
        GENERATED.fullmatch(label(key, labels)) is not None
        and not result.log
        and result.status not in ("skipped", "omitted")
    )


def _seconds(key: str, results: dict[str, TaskResult]) -> float:
    """A container task's time; a group's, the sum of its tasks' (the local runners run one
    task at a time)."""
    result = results[key]
    children = [k for k in results if k.startswith(key + "/") and "/" not in k[len(key) + 1 :]]
    if result.log or not children:
        return result.seconds
    return sum(_seconds(k, results) for k in children)


def format_tree(rows: list[Row]) -> list[str]:
    width = max([len("STEP")] + [2 * r.depth + len(r.step) for r in rows]) + 2
    lines = [f"{'STEP':<{width}}{'STATUS':<11}{'DURATION':>8}  MESSAGE".rstrip()]
    for r in rows:
        took = "" if r.seconds is None else _took(r.seconds)
        step = "  " * r.depth + r.step
        lines.append(f"{step:<{width}}{r.status:<11}{took:>8}  {r.message}".rstrip())
    return lines


def _took(seconds: float) -> str:
    return f"{seconds:.1f}s" if seconds < 10 else duration(seconds)


# ---- artifacts -------------------------------------------------------------------------------
def artifact_lines(results: dict[str, TaskResult], labels: dict[str, str]) -> list[str]:
    """`task/artifact  path  metric value ...`: each artifact once, with the task that wrote it
    (a sub-DAG's outputs are its tasks' artifacts), by the name both engines give it."""
    produced = {a.path for r in results.values() if r.log for a in r.artifacts.values()}
    rows = []
    for key, result in results.items():
        if result.status not in SUCCEEDED:  # a failed task's outputs were not (all) written
            continue
        for artifact in result.artifacts.values():
            if artifact.name == EXECUTOR_OUTPUT or (not result.log and artifact.path in produced):
                continue
            rows.append(
                (f"{label(key, labels)}/{artifact.name}", short_path(artifact.path), artifact)
            )
    if not rows:
        return []
    width = max(len(r[0]) for r in rows) + 2
    lines = []
    for name, path, artifact in rows:
        metrics = short_metrics(artifact.metadata)
        lines.append(f"{name:<{width}}{path}" + (f"  {metrics}" if metrics else ""))
    return lines


def short_metrics(metadata: dict[str, Any]) -> str:
    """At most SHOWN_METRICS scalars (the usual headline ones first), 4 decimals; paths and
    lists left to the file."""
    scalars = {
        k: v
        for k, v in metadata.items()
        if isinstance(v, bool | int | float) or (isinstance(v, str) and "/" not in v and v)
    }
    order = [k for k in PREFERRED if k in scalars] + [k for k in scalars if k not in PREFERRED]
    shown = [f"{k} {_number(scalars[k])}" for k in order[:SHOWN_METRICS]]
    more = len(order) - SHOWN_METRICS
    return "  ".join(shown) + (f"  (+{more} more)" if more > 0 else "")


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def short_path(path: str) -> str:
    """A path relative to the working directory when it lies under it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path


# ---- the outcome -----------------------------------------------------------------------------
def outcome(results: dict[str, TaskResult], labels: dict[str, str], status: str) -> str:
    """One sentence: how the run ended; blessed or not and why (the task with a `blessed`
    output parameter, its reasons from the evaluation's `blessing`); published as what (a
    deploy record among the artifacts); where the HTML reports are."""
    parts: list[str] = []
    if status == "failed":
        failed = [k for k, r in results.items() if r.status == "failed" and r.log]
        where = ""
        if failed:
            log = short_path(results[failed[-1]].log or "")
            where = f" at {label(failed[-1], labels)} (log: {log})"
        parts.append("Run failed" + where)
    judged = next(
        ((k, r) for k, r in results.items() if r.status in SUCCEEDED and "blessed" in r.parameters),
        None,
    )
    if judged is not None:
        key, result = judged
        blessed = _truthy(result.parameters["blessed"])
        blessing = _first(_blessings(result))
        why = "; ".join(blessing["reasons"]) if blessing and blessing.get("reasons") else ""
        verdict = "Blessed" if blessed else "Not blessed"
        parts.append(
            f"{verdict} by {label(key, labels)}"
            + (f" ({why})" if why else "")
            + _published(results, labels, blessed)
        )
    elif status == "succeeded":
        parts.append("Run succeeded")
    reports = [
        f"{short_path(a.path)} ({label(k, labels)})"
        for k, r in results.items()
        if r.log
        for a in r.artifacts.values()
        if _is_html(a.path)
    ]
    if reports:
        parts.append("reports: " + ", ".join(reports))
    return "; ".join(parts) + "."


def _published(results: dict[str, TaskResult], labels: dict[str, str], blessed: bool) -> str:
    record = _first(_deploy_records(results.values()))
    if record is not None:
        role = record.get("role", "")
        percent = record.get("traffic_percent")
        text = f"; published {record['version']} as {role}"
        if role == "challenger":
            on = f" on {_percent(percent)} of traffic" if percent is not None else ""
            champion = f" beside champion {record['previous']}" if record.get("previous") else ""
            return text + on + champion
        on = f" on {_percent(percent)} of traffic" if percent is not None else ""
        return text + on + (f", replacing {record['previous']}" if record.get("previous") else "")
    if not blessed:
        return "; nothing published"
    skipped = [
        f"{label(k, labels)} {r.status}" + (f": {readable_reason(r.reason)}" if r.reason else "")
        for k, r in results.items()
        if r.status in ("skipped", "omitted", "failed", "cancelled")
    ]
    return "; nothing published" + (f" ({skipped[-1]})" if skipped else "")


def _percent(value: Any) -> str:
    number = float(value)
    return f"{number:g}%"


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _first(values: Iterable[Any]) -> Any:
    return next(iter(values), None)


def _json(path: str) -> Any:
    file = Path(path)
    if not file.is_file() or file.stat().st_size > _PEEK:
        return None
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None


def _blessings(result: TaskResult) -> Iterator[Blessing]:
    for artifact in result.artifacts.values():
        doc = _json(artifact.path)
        if isinstance(doc, dict) and isinstance(doc.get("blessing"), dict):
            yield doc["blessing"]


def _deploy_records(results: Iterable[TaskResult]) -> Iterator[DeployRecord]:
    for result in results:
        if result.status not in SUCCEEDED or not result.log:
            continue
        for artifact in result.artifacts.values():
            doc = _json(artifact.path)
            if isinstance(doc, dict) and {"version", "role"} <= set(doc):
                yield doc  # type: ignore[misc]


def _is_html(path: str) -> bool:
    file = Path(path)
    if not file.is_file():
        return False
    with file.open("rb") as handle:
        head = handle.read(256).lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))


# ---- all of it -------------------------------------------------------------------------------
def end_of_run(
    results: dict[str, TaskResult],
    labels: dict[str, str],
    status: str,
    seconds: float,
    record: Path,
) -> str:
    """What the console shows when a run ends (succeeded or failed)."""
    lines = [f"\nrun {status} in {duration(seconds)}; record: {short_path(str(record))}", ""]
    lines += format_tree(tree(results, labels))
    artifacts = artifact_lines(results, labels)
    if artifacts:
        lines += ["", *artifacts]
    width = max(os.get_terminal_size().columns if os.isatty(1) else 100, 60) - 1
    lines += [
        "",
        *textwrap.wrap(
            outcome(results, labels, status),
            width,
            subsequent_indent="  ",
            break_long_words=False,  # paths stay whole, to copy
            break_on_hyphens=False,
        ),
    ]
    return "\n".join(lines)


def cancelled_line(signal_name: str, seconds: float, record: Path) -> str:
    """The one line a cancelled run prints."""
    by = "Ctrl-C" if signal_name == "SIGINT" else signal_name
    return f"cancelled by {by} after {duration(seconds)}; run record: {short_path(str(record))}"
