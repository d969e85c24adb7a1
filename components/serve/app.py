"""The local model server: KServe's v1 prediction protocol on FastAPI, every request through the
A/B router. `POST /v1/models/<model>:predict` with `{"instances": [...]}` and an `x-unit-id`
header answers `{"predictions": [...], "arm", "model_version", "request_id"}` (also as
`x-arm`/`x-model-version` headers); `/v1/models/<model>/versions/<v>:predict` skips the router.
Every request first passes the guard (components.serve.guard: token, limits, deadline); the
prediction runs in a thread pool, so a large request never holds up the probes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import orjson
from fastapi import FastAPI, Request, Response

from components.serve.guard import TICKET, Guard, Limits, Ticket, Tokens
from components.serve.router import BadRequest, NoModel, Router

log = logging.getLogger(__name__)
T = TypeVar("T")


def _json(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def _instances(body: bytes) -> Any:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise BadRequest(f'the body is not JSON ({err}); send {{"instances": [...]}}') from err
    if not isinstance(payload, dict) or "instances" not in payload:
        raise BadRequest('the body must be an object with "instances": [...]')
    return payload["instances"]


def _parsed(body: bytes, ticket: Ticket) -> Any:
    try:
        return _instances(body)
    except BadRequest:
        ticket.reason = "bad_body"
        raise


def _ticket(request: Request) -> Ticket:
    ticket = request.scope.get(TICKET)
    if ticket is None:  # only the open paths skip the guard, and they take no ticket
        raise RuntimeError(f"{request.url.path} did not pass the guard")
    return ticket


def create_app(
    router: Router,
    model_name: str,
    refresh_seconds: float = 10.0,
    *,
    tokens: Tokens | None = None,
    limits: Limits | None = None,
    predict_threads: int = 4,
) -> FastAPI:
    """The server's app. Without `tokens` it authenticates nobody (main.py allows that only on
    loopback); `limits` bound bodies, their read time and the ids."""
    pool = ThreadPoolExecutor(predict_threads, thread_name_prefix="predict")

    async def off_loop(fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(pool, fn)

    async def refresh() -> None:
        try:
            if await off_loop(router.refresh):
                # A loaded model is tens of thousands of long-lived objects: frozen out of the
                # collector, its full passes stop rescanning them (bench/serve.py's p99). The
                # unfreeze first lets the collection free a model just replaced.
                gc.unfreeze()
                gc.collect()
                gc.freeze()
        except Exception:  # the router handles bad pointers; anything else must not kill it
            log.exception("refresh from %s failed; serving what was loaded", router.registry.base)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await refresh()
        ready, why = router.readiness()
        if not ready:
            log.warning("not ready: %s; answering 503 until that is fixed", why)

        async def poll() -> None:  # promotions, rollbacks and ramps apply without a restart
            while True:
                await asyncio.sleep(refresh_seconds)
                if router.request_log is not None:
                    router.request_log.maybe_roll()  # an idle server still ships its log
                if tokens is not None:
                    tokens.reload()  # a rotated Secret applies without a restart
                await refresh()

        task = asyncio.create_task(poll())
        yield
        task.cancel()
        pool.shutdown(wait=True)
        if router.request_log is not None:  # on SIGTERM: the last segment is uploaded
            await asyncio.to_thread(router.request_log.close)

    app = FastAPI(title=f"{model_name} A/B model server", lifespan=lifespan)

    def write_log(entry: dict[str, Any]) -> None:
        if router.request_log is not None:
            at = router.clock()
            router.request_log.write({"time": at.isoformat(timespec="milliseconds"), **entry}, at)

    app.add_middleware(Guard, tokens=tokens, limits=limits or Limits(), write_log=write_log)

    def known(name: str, request: Request) -> Ticket:
        ticket = _ticket(request)
        if name != model_name:
            ticket.reason = "unknown_model"
            raise BadRequest(f"unknown model {name!r}; this server serves {model_name!r}")
        return ticket

    @app.exception_handler(BadRequest)
    async def bad_request(request: Request, err: BadRequest) -> Response:
        ticket = request.scope.get(TICKET)
        if ticket is not None and ticket.reason is None:
            ticket.reason = "bad_request"
        return _json({"error": str(err)}, 400)

    @app.exception_handler(NoModel)
    async def no_model(request: Request, err: NoModel) -> Response:
        ticket = request.scope.get(TICKET)
        if ticket is not None:
            ticket.reason = "not_ready"
        return _json({"error": str(err)}, 503)

    @app.get("/healthz")
    async def healthz() -> Response:
        """Liveness: the process answers (a restart would not fix a bad pointer, and would drop
        the split it still serves); whether it is ready, and why not, is in the body."""
        ready, why = router.readiness()
        return _json({"ok": True, "ready": ready, "problem": why})

    @app.get("/readyz")
    async def readyz() -> Response:
        """Readiness, for the kubelet (no token): 503 naming the pointer file and what is wrong
        until a champion serves and every pointer can be served."""
        ready, why = router.readiness()
        return _json({"ready": ready, "problem": why}, 200 if ready else 503)

    @app.get("/v1/models/{name}")
    async def status(name: str, request: Request) -> Response:
        known(name, request)
        ready, why = router.readiness()
        body = {"name": name, "ready": ready, **router.state.describe()}
        return _json({**body, "problem": why} if why else body, 200 if ready else 503)

    @app.post("/v1/models/{name}:predict")
    async def predict(name: str, request: Request) -> Response:
        ticket = known(name, request)
        router.state  # noqa: B018  # not ready (503) comes before a bad request
        if not ticket.unit_id:
            ticket.reason = "missing_unit_id"
            return _json(
                {
                    "error": "missing unit id: send the x-unit-id header",
                    "request_id": ticket.request_id,
                },
                400,
            )
        body = await request.body()

        def work() -> tuple[int, dict[str, Any]]:
            instances = _parsed(body, ticket)
            router.state  # noqa: B018  # NoModel (503) before the unit is logged as routed
            ticket.routed = True  # from here the router writes the log line
            return router.route(ticket.unit_id, instances, ticket.request_id)

        code, answer = await off_loop(work)
        headers = (
            {"x-arm": answer["arm"], "x-model-version": answer["model_version"]}
            if "arm" in answer
            else None
        )
        return _json(answer, code, headers)

    @app.post("/v1/models/{name}/versions/{version}:predict")
    async def predict_version(name: str, version: str, request: Request) -> Response:
        ticket = known(name, request)
        ticket.model_version = version[: (limits or Limits()).max_id_chars]
        body = await request.body()
        predictions = await off_loop(lambda: router.version(version).predict(_parsed(body, ticket)))
        return _json({"predictions": predictions, "model_version": version})

    return app
