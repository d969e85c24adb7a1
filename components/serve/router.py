"""The A/B router: loads the registry's champion and challenger, assigns each unit to an arm
(components.common.assignment: sticky, salted hash), predicts with that arm's version and logs
the request. The HTTP server (app.py) and the replay simulator (replay.py) both route through it.

The registry is re-read by `refresh()`: a promotion, a rollback or a ramp takes effect on the
next refresh without a restart, and units keep their arm across refreshes and restarts.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from components.common import fs, tfdata
from components.common.assignment import CHALLENGER, CHAMPION, Split
from components.common.checks import check_percent
from components.common.errors import (
    ConfigError,
    InputDataError,
    PipelineError,
    TransientError,
)
from components.common.registry import Registry
from components.common.times import utc_now
from components.serve.requestlog import RequestLog

log = logging.getLogger(__name__)

# The serving signature's dtypes as the dataset schema's kinds (tfdata.DEFAULTS).
KINDS = {"string": "string", "int64": "int", "int32": "int", "float32": "float", "float64": "float"}


class BadRequest(PipelineError):
    """The request itself is unusable (HTTP 400); the client must fix it."""


class NoModel(PipelineError):
    """The registry has no champion to serve yet (HTTP 503)."""


class PointerProblem(PipelineError):
    """A pointer file cannot be served as it is (unparseable, a field missing or out of range, a
    version that is not committed or does not load): the server keeps what it serves and reports
    not ready until the pointer is fixed."""


@dataclass(frozen=True)
class Model:
    """One loaded registry version: raw instances -> scores."""

    version: str
    predict_columns: Callable[[dict[str, list[Any]]], Any]
    kinds: dict[str, str]

    def predict(self, instances: Sequence[Any]) -> list[float]:
        return [float(x) for x in self.predict_columns(columns(instances, self.kinds))]


def columns(instances: Sequence[Any], kinds: dict[str, str]) -> dict[str, list[Any]]:
    """Raw instances (JSON objects; a missing or null field is a missing value) -> the serving
    signature's columns. A value of the wrong type is a BadRequest naming instance and field."""
    if not isinstance(instances, list) or not instances:
        raise BadRequest('"instances" must be a non-empty list of objects')
    for i, row in enumerate(instances):
        if not isinstance(row, dict):
            raise BadRequest(f"instances[{i}] is {type(row).__name__}, expected an object")
        for name, kind in kinds.items():
            value = row.get(name)
            if value is None:
                continue
            ok = (
                isinstance(value, str)
                if kind == "string"
                else isinstance(value, int) and not isinstance(value, bool)
                if kind == "int"
                else isinstance(value, int | float) and not isinstance(value, bool)
            )
            if not ok:
                raise BadRequest(
                    f"instances[{i}].{name} is {value!r}, expected a {kind} (or null if missing)"
                )
    return tfdata.serving_columns(instances, kinds)


def load_model(registry: Registry, version: str) -> Model:
    fn = tfdata.load_serving_fn(registry.saved_model_uri(version))
    kinds = {}
    for name, dtype in fn.inputs.items():
        if dtype not in KINDS:
            raise InputDataError(f"{version}: input {name} has dtype {dtype}; cannot serve it")
        kinds[name] = KINDS[dtype]
    model = Model(version, lambda cols: fn(cols), kinds)
    try:  # warm-up: the first call traces the graph (TF Serving's warmup files do the same)
        model.predict([{}])
    except Exception as err:  # served anyway: its errors count against it in the readout
        log.warning("version %s failed its warm-up request: %s", version, err)
    return model


@dataclass(frozen=True)
class State:
    """What the router serves now; swapped whole on refresh."""

    champion: Model
    challenger: Model | None
    split: Split | None

    def describe(self) -> dict[str, Any]:
        return {
            "champion": self.champion.version,
            "challenger": self.challenger.version if self.challenger else None,
            "challenger_percent": self.split.challenger_percent if self.split else 0,
            "experiment": self.split.experiment if self.split else None,
        }


class Router:
    def __init__(
        self,
        registry: Registry,
        request_log: RequestLog | None,
        clock: Callable[[], dt.datetime] = utc_now,
        loader: Callable[[Registry, str], Model] = load_model,
    ) -> None:
        self.registry = registry
        self.request_log = request_log
        self.clock = clock
        self.loader = loader
        self._models: dict[str, Model] = {}
        self._state: State | None = None
        self._refresh_lock = threading.Lock()
        self.problem: str | None = None  # a pointer that cannot be served: not ready
        self.read_error: str | None = None  # the last refresh could not read the registry

    @property
    def state(self) -> State:
        if self._state is None:
            raise NoModel(self.readiness()[1] or "nothing is served yet")
        return self._state

    def refresh(self) -> bool:
        """Re-read the pointers; load versions not loaded yet; True if what is served changed.

        Never raises for a bad pointer or a read failure: a pointer that cannot be served (see
        PointerProblem) keeps the last good state and sets `problem` (not ready); a pointer that
        cannot be read (the bucket did not answer) keeps the last good state and sets
        `read_error` (still ready if something is served). Both clear at the next good refresh.
        """
        with self._refresh_lock:
            try:
                changed = self._refresh()
            except PointerProblem as err:
                self._report("problem", str(err))
                return False
            except (OSError, TransientError) as err:
                self._report("read_error", f"could not read {self.registry.base}: {err}")
                return False
            self._report("problem", None)
            self._report("read_error", None)
            return changed

    def _report(self, kind: str, message: str | None) -> None:
        if getattr(self, kind) == message:
            return  # logged once when it appears, once when it clears
        if message is None:
            log.info("%s cleared; serving %s", kind.replace("_", " "), self._described())
        elif kind == "problem":
            log.error("%s; keeping %s and reporting not ready", message, self._described())
        else:
            log.warning("%s; keeping %s", message, self._described())
        setattr(self, kind, message)

    def _described(self) -> str:
        return str(self._state.describe()) if self._state else "nothing served yet"

    def readiness(self) -> tuple[bool, str | None]:
        """(ready, why not): ready once a champion serves and no pointer problem is open."""
        if self.problem:
            return False, self.problem
        if self._state is None:
            return False, self.read_error or (
                f"{self.registry.base} has no champion yet; run the retraining pipeline first"
            )
        return True, None

    def _pointer(self, name: Literal["champion", "challenger"]) -> dict[str, Any] | None:
        uri = fs.join(self.registry.base, f"{name}.json")
        try:
            pointer = self.registry.pointer(name)
        except (OSError, TransientError):
            raise
        except Exception as err:  # unparseable, not an object, an uncommitted version
            reason = _reason(err)
            raise PointerProblem(reason if uri in reason else f"{uri}: {reason}") from err
        if pointer is None:
            return None
        if not isinstance(pointer["version"], str) or not pointer["version"]:
            raise PointerProblem(f"{uri}: version {pointer['version']!r} is not a version name")
        if name == "challenger":
            pointer["split"] = _split(uri, pointer)
        return pointer

    def _load(self, version: str, pointer: str) -> None:
        if version in self._models:
            return
        started = time.perf_counter()
        try:
            self._models[version] = self.loader(self.registry, version)
        except (OSError, TransientError):
            raise
        except Exception as err:
            raise PointerProblem(
                f"{fs.join(self.registry.base, pointer)}: version {version} does not load "
                f"({_reason(err)})"
            ) from err
        log.info("loaded %s in %.1fs", version, time.perf_counter() - started)

    def _refresh(self) -> bool:
        champion = self._pointer("champion")
        if champion is None:
            return False
        challenger = self._pointer("challenger")
        if challenger is not None and challenger["version"] == champion["version"]:
            challenger = None  # a promotion half applied: the challenger already serves all
        self._load(champion["version"], "champion.json")
        if challenger is not None:
            self._load(challenger["version"], "challenger.json")
        wanted = [champion["version"]] + ([challenger["version"]] if challenger else [])
        state = State(
            self._models[champion["version"]],
            self._models[challenger["version"]] if challenger else None,
            challenger["split"] if challenger else None,
        )
        changed = self._state is None or state.describe() != self._state.describe()
        self._state = state
        for version in set(self._models) - set(wanted):
            del self._models[version]
        if changed:
            log.info("serving %s", state.describe())
        return changed

    def version(self, version: str) -> Model:
        model = self._models.get(version)
        if model is None:
            raise BadRequest(
                f"version {version} is not served here; served: {sorted(self._models)}"
            )
        return model

    def route(
        self, unit_id: str, instances: Any, request_id: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        """Assign the unit, predict with its arm's version, log; (HTTP status, response body)."""
        started = time.perf_counter()
        state = self.state
        request_id = request_id or uuid.uuid4().hex
        if not unit_id:
            return 400, {
                "error": "missing unit id: send the x-unit-id header",
                "request_id": request_id,
            }
        arm = state.split.arm(unit_id) if state.split and state.challenger else CHAMPION
        model = state.challenger if arm == CHALLENGER and state.challenger else state.champion
        body: dict[str, Any] = {
            "request_id": request_id,
            "arm": arm,
            "model_version": model.version,
        }
        try:
            predictions = model.predict(instances)
            status, outcome = 200, "ok"
            body["predictions"] = predictions
        except BadRequest as err:
            status, outcome, body["error"] = 400, "bad_request", str(err)
        except Exception as err:  # the model failed: logged, counted against its arm
            status, outcome = 500, "error"
            body["error"] = f"model {model.version} failed: {type(err).__name__}"
            log.warning("model %s failed on request %s: %s", model.version, request_id, err)
        latency_ms = (time.perf_counter() - started) * 1000
        if self.request_log is not None:
            at = self.clock()
            self.request_log.write(
                {
                    "time": at.isoformat(timespec="milliseconds"),
                    "request_id": request_id,
                    "unit_id": unit_id,
                    "experiment": state.split.experiment if state.split else None,
                    "challenger_percent": state.split.challenger_percent if state.split else 0,
                    "arm": arm,
                    "model_version": model.version,
                    "status": outcome,
                    "challenger": state.challenger.version if state.challenger else None,
                    "predictions": body.get("predictions"),
                    # The inputs of an answered request (validated above, within the body
                    # limit), for the monitor's input drift; a rejected body is not logged.
                    "instances": instances if outcome == "ok" else None,
                    "latency_ms": round(latency_ms, 3),
                },
                at,
            )
        return status, body


def _reason(err: Exception) -> str:
    if isinstance(err, ValueError) and type(err).__name__ == "JSONDecodeError":
        return f"not valid JSON ({err})"
    return str(err) if isinstance(err, PipelineError) else f"{type(err).__name__}: {err}"


def _split(uri: str, pointer: dict[str, Any]) -> Split:
    """The challenger pointer's split, every field checked: a share outside 0..100, NaN, a
    string or a missing field is a PointerProblem naming the file and the field."""
    missing = [k for k in ("experiment", "salt", "percent") if k not in pointer]
    if missing:
        raise PointerProblem(f"{uri}: no {', '.join(missing)}; a challenger pointer needs them")
    try:
        percent = check_percent(pointer["percent"], f"{uri}: percent")
    except ConfigError as err:
        raise PointerProblem(
            f"{err}; set it with `python -m components.promote --ramp-percent N`"
        ) from None
    for key in ("experiment", "salt"):
        if not isinstance(pointer[key], str) or not pointer[key]:
            raise PointerProblem(f"{uri}: {key} {pointer[key]!r} is not a non-empty string")
    try:
        return Split(pointer["experiment"], pointer["salt"], percent)
    except ValueError as err:
        raise PointerProblem(f"{uri}: {err}") from err
