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
from typing import Any

from components.common import tfdata
from components.common.assignment import CHALLENGER, CHAMPION, Split
from components.common.errors import InputDataError, PipelineError
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

    @property
    def state(self) -> State:
        if self._state is None:
            raise NoModel(
                f"{self.registry.base} has no champion yet; run the retraining pipeline first"
            )
        return self._state

    def refresh(self) -> bool:
        """Re-read the pointers; load versions not loaded yet; True if what is served changed."""
        with self._refresh_lock:
            champion = self.registry.champion()
            if champion is None:
                return False
            challenger = self.registry.challenger()
            if challenger is not None and challenger["version"] == champion["version"]:
                challenger = None  # a promotion half applied: the challenger already serves all
            wanted = [champion["version"]] + ([challenger["version"]] if challenger else [])
            for version in wanted:
                if version not in self._models:
                    started = time.perf_counter()
                    self._models[version] = self.loader(self.registry, version)
                    log.info("loaded %s in %.1fs", version, time.perf_counter() - started)
            split = (
                Split(challenger["experiment"], challenger["salt"], challenger["percent"])
                if challenger
                else None
            )
            state = State(
                self._models[champion["version"]],
                self._models[challenger["version"]] if challenger else None,
                split,
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
                    "latency_ms": round(latency_ms, 3),
                },
                at,
            )
        return status, body
