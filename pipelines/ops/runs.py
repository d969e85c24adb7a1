"""`python -m pipelines runs`: list and compare retraining runs, from the local runner's run
folders (runs/<run>/run.json: engine, status, the task outputs) and the MLflow tracking records
the record step wrote (config, data window, metrics, blessing), with the A/B outcome of each
published version from the registry's history.

A local store (the SQLite file beside the registry, or a file store: mlruns/<experiment>/<run>/
with meta.yaml, metrics/, params/, tags/) is read as the plain files it is, so listing takes
a fraction of a second instead of MLflow's import; only a tracking server (http://...) is asked
through MLflow's client. `--tracking-uri` picks the store.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines import platform
from pipelines.catalog import REASON

KEY_METRIC = "roc_auc"
AB_SUFFIX = "-ab"  # the readout's experiment: <model>-ab (components/readout/readout.py)
# MLflow's RunStatus numbers, as a file store's meta.yaml keeps them.
FILE_STATUS = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
REASON_TAG = "pipeline.reason"  # the record step's tag of the run's reason parameter
RUN_RECORD = "run.json"  # pipelines/local/results.py writes it in every run folder
# Words of the blessing reasons that say why a candidate was not blessed (components/evaluate).
NOT_BLESSED = ("below the floor", "regresses", "not blessed", "less than the required")


class RunsError(Exception):
    """The store or a run asked for cannot be read; the message says what to do."""


@dataclass
class Tracked:
    """One MLflow run as stored: its ids, when, its parameters, latest metrics and tags."""

    run_id: str
    experiment: str
    name: str
    started_ms: int
    status: str
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


def default_tracking_uri(platform_file: Path, local_gcs: Path) -> str:
    """The local store of local runs: beside the registry in the local stand-in of the models
    bucket."""
    from components.common.tracking import LOCAL_STORE

    bucket = platform.load(platform_file).bucket("models").removeprefix("gs://")
    return f"sqlite:///{(local_gcs / bucket / LOCAL_STORE).resolve() / 'mlflow.db'}"


# ---- reading the tracking store ------------------------------------------------------------
def read_store(uri: str) -> list[Tracked]:
    """Every active run of every experiment but MLflow's `Default`, newest first."""
    if uri.startswith("sqlite:///"):
        runs = _read_sqlite(Path(uri.removeprefix("sqlite:///")))
    elif uri.startswith(("http://", "https://", "databricks")):
        runs = _read_client(uri)
    else:
        runs = _read_file_store(Path(uri.removeprefix("file://")))
    return sorted(runs, key=lambda r: (r.started_ms, r.run_id), reverse=True)


def _read_sqlite(path: Path) -> list[Tracked]:
    if not path.exists():
        return []
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            experiments = dict(
                db.execute(
                    "SELECT experiment_id, name FROM experiments "
                    "WHERE lifecycle_stage = 'active' AND name != 'Default'"
                ).fetchall()
            )
            runs = {
                row[0]: Tracked(row[0], experiments[row[1]], row[2] or "", row[3] or 0, row[4])
                for row in db.execute(
                    "SELECT run_uuid, experiment_id, name, start_time, status FROM runs "
                    "WHERE lifecycle_stage = 'active'"
                )
                if row[1] in experiments
            }
            for table, attr in (("params", "params"), ("tags", "tags")):
                for key, value, run in db.execute(f"SELECT key, value, run_uuid FROM {table}"):
                    if run in runs:
                        getattr(runs[run], attr)[key] = value
            for key, value, is_nan, run in db.execute(
                "SELECT key, value, is_nan, run_uuid FROM latest_metrics"
            ):
                if run in runs:
                    runs[run].metrics[key] = math.nan if is_nan else float(value)
        finally:
            db.close()
    except sqlite3.DatabaseError as err:
        raise RunsError(
            f"{path}: not an MLflow SQLite store ({err}); pass --tracking-uri"
        ) from None
    return list(runs.values())


def _read_tree(folder: Path) -> dict[str, str]:
    """A file store's params/ or tags/: one file per key (a key with "/" is a subfolder)."""
    if not folder.is_dir():
        return {}
    return {
        p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _latest(history: str) -> float:
    """A file store's metric file ("timestamp value step" per line) -> the latest value."""
    points = [line.split() for line in history.splitlines() if line.strip()]
    _, value, _ = max(points, key=lambda p: (int(p[2]) if len(p) > 2 else 0, int(p[0])))
    return float(value)


def _read_file_store(root: Path) -> list[Tracked]:
    import yaml

    if not root.is_dir():
        return []
    runs = []
    for meta_path in sorted(root.glob("*/meta.yaml")):
        experiment = yaml.safe_load(meta_path.read_text()) or {}
        if experiment.get("lifecycle_stage", "active") != "active":
            continue
        name = str(experiment.get("name", meta_path.parent.name))
        if name == "Default":
            continue
        for run_meta in sorted(meta_path.parent.glob("*/meta.yaml")):
            meta = yaml.safe_load(run_meta.read_text()) or {}
            if meta.get("lifecycle_stage", "active") != "active":
                continue
            folder = run_meta.parent
            status = meta.get("status", "")
            runs.append(
                Tracked(
                    str(meta.get("run_id") or folder.name),
                    name,
                    str(meta.get("run_name") or ""),
                    int(meta.get("start_time") or 0),
                    FILE_STATUS.get(status, str(status)) if isinstance(status, int) else status,
                    _read_tree(folder / "params"),
                    {k: _latest(v) for k, v in _read_tree(folder / "metrics").items()},
                    _read_tree(folder / "tags"),
                )
            )
    return runs


def _read_client(uri: str) -> list[Tracked]:
    """A tracking server, through MLflow's client (the only path that imports MLflow)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    experiments = {
        e.experiment_id: e.name for e in client.search_experiments() if e.name != "Default"
    }
    if not experiments:
        return []
    return [
        Tracked(
            r.info.run_id,
            experiments[r.info.experiment_id],
            r.info.run_name or "",
            r.info.start_time or 0,
            r.info.status,
            dict(r.data.params),
            dict(r.data.metrics),
            dict(r.data.tags),
        )
        for r in client.search_runs(list(experiments), max_results=10000)
    ]


# ---- the local run folders and the registry --------------------------------------------------
@dataclass
class LocalRun:
    """A run folder's record (pipelines/local/results.py): what MLflow does not hold."""

    folder: Path
    record: dict[str, Any]

    @property
    def run_id(self) -> str | None:
        """The MLflow run its record step logged (the record task's run_record metadata)."""
        for task in self.record.get("tasks", {}).values():
            for artifact in task.get("artifacts", {}).values():
                run_id = (artifact.get("metadata") or {}).get("run_id")
                if run_id:
                    return str(run_id)
        return None

    @property
    def published(self) -> dict[str, str] | None:
        """The version the deploy task published ({version, uri}), if any."""
        for task in self.record.get("tasks", {}).values():
            for artifact in task.get("artifacts", {}).values():
                meta = artifact.get("metadata") or {}
                if meta.get("version") and "/versions/" in str(meta.get("uri", "")):
                    return {"version": str(meta["version"]), "uri": str(meta["uri"])}
        return None


def local_runs(runs_dir: Path) -> list[LocalRun]:
    found = []
    for path in sorted(runs_dir.glob(f"*/{RUN_RECORD}")):
        try:
            found.append(LocalRun(path.parent, json.loads(path.read_text())))
        except (OSError, json.JSONDecodeError):
            continue  # a run still writing its record, or a stray file: not a run
    return found


def ab_outcome(version_uri: str, registry_root: str = "") -> str:
    """What the registry did with a published version: promoted, rolled back, under test
    (running, with its share), champion without a test, superseded, or "-"."""
    from components.common import fs
    from components.common.registry import Registry

    if fs.is_remote(version_uri):
        return "?"  # a bucket: not read for a listing
    base = Path(version_uri).parent.parent
    version = Path(version_uri).name
    if not base.is_dir():
        return "-"
    registry = Registry(str(base.parent), base.name)
    outcome = "-"
    for move in registry.history():
        reason = str(move.get("reason", ""))
        if move.get("pointer") == "champion" and move.get("version") == version:
            outcome = "promoted" if reason.startswith("A/B readout") else "champion (no A/B)"
        elif move.get("pointer") == "challenger" and move.get("previous") == version:
            if reason.startswith("rolled back"):
                outcome = "rolled back"
            elif reason.startswith("promoted"):
                outcome = "promoted"
            elif move.get("version") is not None:
                outcome = "superseded"
    challenger = registry.read("challenger")
    if challenger and challenger.get("version") == version:
        percent = challenger.get("percent")
        outcome = f"running ({percent:g}%)" if isinstance(percent, int | float) else "running"
    return outcome


# ---- the listing ---------------------------------------------------------------------------
def _start_time(tracked: Tracked | None, local: LocalRun | None) -> dt.datetime | None:
    if local and local.record.get("started_utc"):
        stamp = dt.datetime.strptime(local.record["started_utc"], "%Y%m%d-%H%M%S")
        return stamp.replace(tzinfo=dt.UTC)
    if tracked:
        return dt.datetime.fromtimestamp(tracked.started_ms / 1000, dt.UTC)
    return None


def _started(tracked: Tracked | None, local: LocalRun | None) -> str:
    when = _start_time(tracked, local)
    return when.strftime("%Y-%m-%d %H:%M") if when else "-"


def _newest_first(row: tuple[Tracked | None, LocalRun | None]) -> dt.datetime:
    return _start_time(*row) or dt.datetime.min.replace(tzinfo=dt.UTC)


def _short(text: str, width: int = 48) -> str:
    """A listing cell: at most `width` characters (the whole text is in --compare)."""
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def run_reason(tracked: Tracked | None, local: LocalRun | None) -> str:
    """Why the run started (its `reason` parameter: manual, schedule, backfill, drift: ...),
    from the run folder's arguments or the MLflow run's tag; "-" for runs from before it."""
    arguments = local.record.get("arguments", {}) if local else {}
    reason = arguments.get(REASON) or (tracked.tags.get(REASON_TAG) if tracked else None)
    return str(reason) if reason else "-"


def blessing(tracked: Tracked | None) -> str:
    """yes, or no with the first reason that refused it."""
    if tracked is None or "blessed" not in tracked.tags:
        return "-"
    if tracked.tags["blessed"] == "true":
        return "yes"
    reasons = [r for r in tracked.tags.get("mlflow.note.content", "").splitlines() if r]
    refused = [r for r in reasons if any(w in r for w in NOT_BLESSED)] or reasons
    return _short(f"no: {refused[0]}") if refused else "no"


def list_runs(
    uri: str,
    runs_dir: Path,
    experiment: str | None = None,
    limit: int = 20,
    metric: str = KEY_METRIC,
) -> str:
    """The newest retraining runs, one line each (the A/B readouts are counted below the table,
    or listed with `experiment` <model>-ab)."""
    tracked = read_store(uri)
    if experiment and experiment not in {t.experiment for t in tracked}:
        names = sorted({t.experiment for t in tracked})
        raise RunsError(f"no experiment {experiment!r} at {uri}; it has {names}")
    readouts = [t for t in tracked if t.experiment.endswith(AB_SUFFIX)]
    if experiment and experiment.endswith(AB_SUFFIX):
        return _list_readouts([t for t in readouts if t.experiment == experiment][:limit])
    by_id = {t.run_id: t for t in tracked if not t.experiment.endswith(AB_SUFFIX)}
    by_name = {t.name: t for t in by_id.values()}
    rows: list[tuple[Tracked | None, LocalRun | None]] = []
    seen: set[str] = set()
    for folder in local_runs(runs_dir):
        t = by_id.get(folder.run_id or "") or by_name.get(folder.folder.name)
        if t:
            seen.add(t.run_id)
        rows.append((t, folder))
    rows += [(t, None) for t in by_id.values() if t.run_id not in seen]
    if experiment:
        rows = [(t, loc) for t, loc in rows if t and t.experiment == experiment]
    rows.sort(key=_newest_first, reverse=True)  # to the second, not the minute shown
    if not rows and not readouts:
        return (
            f"no runs in {runs_dir}/ or at {uri}: run `make demo` (or `python -m pipelines run "
            "retrain`) first, or pass --runs-dir / --tracking-uri"
        )
    header = ["run id", "started (UTC)", "engine", "status", "reason", "run", "version"]
    header += ["blessed", "A/B"]
    table = [[*header, metric]]
    for t, local in rows[:limit]:
        published = local.published if local else None
        record = local.record if local else {}
        value = t.metrics.get(metric) if t else None
        table.append(
            [
                t.run_id[:12] if t else "-",
                _started(t, local),
                str(record.get("engine", "-")),
                str(record.get("status") or (t.status.lower() if t else "-")),
                _short(run_reason(t, local), 28),
                local.folder.name if local else (t.name if t else "-"),
                published["version"] if published else "-",
                blessing(t),
                ab_outcome(published["uri"]) if published else "-",
                "-" if value is None else f"{value:.4f}",
            ]
        )
    out = _table(table) if rows else f"no retraining runs in {runs_dir}/ or at {uri}"
    if len(rows) > limit:
        out += f"\n({len(rows) - limit} older runs not shown; --limit N shows more)"
    for name in sorted({t.experiment for t in readouts}):
        n = sum(t.experiment == name for t in readouts)
        out += f"\n{n} A/B readouts in {name}: `python -m pipelines runs --experiment {name}`"
    return out


def _list_readouts(readouts: list[Tracked]) -> str:
    table = [["run id", "read (UTC)", "champion", "challenger", "decision", "delta", "p"]]
    for t in readouts:
        table.append(
            [
                t.run_id[:12],
                _started(t, None),
                t.params.get("champion", "-"),
                t.params.get("challenger", "-"),
                t.tags.get("decision", "-"),
                f"{t.metrics['delta']:+.4f}" if "delta" in t.metrics else "-",
                f"{t.metrics['p_value']:.3g}" if "p_value" in t.metrics else "-",
            ]
        )
    return _table(table)


# ---- the comparison ------------------------------------------------------------------------
def _find(tracked: list[Tracked], prefix: str) -> Tracked:
    found = [t for t in tracked if t.run_id.startswith(prefix) or t.name == prefix]
    if len(found) == 1:
        return found[0]
    if found:
        raise RunsError(
            f"run id {prefix!r} is ambiguous: {', '.join(t.run_id[:12] for t in found)}; "
            "give more characters"
        )
    raise RunsError(f"no run with id {prefix!r}; `python -m pipelines runs` lists them")


def _number(text: str | float | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _show(value: str | float | None, first: str | float | None) -> str:
    """A value as it is (a metric with 4 decimals unless it is a count), and its signed
    difference from the first run's when both are numbers."""
    if value is None:
        return "-"
    if value == "":
        return "(empty)"
    if isinstance(value, float):
        text = str(int(value)) if value.is_integer() and abs(value) > 1 else f"{value:.4f}"
    else:
        text = value
    a, b = _number(value), _number(first)
    if a is not None and b is not None and value is not first and a != b:
        delta = a - b
        shown = f"{delta:+.0f}" if delta.is_integer() and abs(delta) >= 1 else f"{delta:+.4g}"
        if abs(delta) < 1 and "e" not in shown:
            shown = f"{delta:+.4f}"
        text += f" ({shown})"
    return text


def wrap(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width` characters: its own lines, each broken after a space,
    "/" or "," when one falls in the second half of the line, else at `width`. Nothing is
    dropped: each line of the text is its pieces joined."""
    lines = []
    for part in text.split("\n"):
        while len(part) > width:
            cut = max(part.rfind(c, width // 2, width) for c in " /,")
            cut = cut + 1 if cut >= 0 else width
            lines.append(part[:cut])
            part = part[cut:]
        lines.append(part)
    return lines


def compare_runs(uri: str, run_ids: list[str], show_all: bool = False) -> str:
    """The runs side by side: the metrics, parameters and tags that differ (every one with
    `show_all`), values whole, numbers with their difference from the first run."""
    tracked = read_store(uri)
    runs = [_find(tracked, r) for r in run_ids]
    entries: list[tuple[str, list[Any]]] = []
    for kind, get in (
        ("metric", lambda r: r.metrics),
        ("param", lambda r: r.params),
        ("tag", lambda r: r.tags),
    ):
        keys = sorted({k for r in runs for k in get(r)})
        for key in keys:
            if kind == "tag" and key.startswith("mlflow.") and key != "mlflow.note.content":
                continue  # MLflow's own bookkeeping (user, source, log history)
            label = "blessing reasons" if key == "mlflow.note.content" else f"{kind} {key}"
            entries.append((label, [get(r).get(key) for r in runs]))
    differ = [(k, v) for k, v in entries if len({json.dumps(x) for x in v}) > 1]
    shown = entries if show_all else differ
    key_width = max([len(k) for k, _ in shown] + [len("run")])
    width = max(24, (shutil.get_terminal_size((160, 24)).columns - key_width) // len(runs) - 2)
    rows = [["run", *(r.run_id[:12] for r in runs)], ["name", *(r.name for r in runs)]]
    for key, values in shown:
        rows.append([key, *(_show(v, values[0]) for v in values)])
    out = _wrapped_table(rows, width)
    equal = len(entries) - len(differ)
    if not show_all:
        out += f"\n{equal} values equal, not shown (--all shows them)" if equal else ""
    return out


def _wrapped_table(rows: list[list[str]], width: int) -> str:
    """Columns of at most `width` characters; a longer value continues on the next lines."""
    cells = [[wrap(c, width) if i else [c] for i, c in enumerate(row)] for row in rows]
    widths = [max(len(line) for row in cells for line in row[i]) for i in range(len(rows[0]))]
    out = []
    for row in cells:
        for k in range(max(len(c) for c in row)):
            parts = [
                (c[k] if k < len(c) else "").ljust(w) for c, w in zip(row, widths, strict=True)
            ]
            out.append("  ".join(parts).rstrip())
    return "\n".join(out)


def _table(rows: Iterable[list[str]]) -> str:
    rows = list(rows)
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
