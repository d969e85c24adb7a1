"""The local model server: KServe's v1 prediction protocol on FastAPI, every request through the
A/B router. `POST /v1/models/<model>:predict` with `{"instances": [...]}` and an `x-unit-id`
header answers `{"predictions": [...], "arm", "model_version", "request_id"}` (also as
`x-arm`/`x-model-version` headers); `/v1/models/<model>/versions/<v>:predict` skips the router.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response

from components.serve.router import BadRequest, NoModel, Router

log = logging.getLogger(__name__)


def _json(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


async def _instances(request: Request) -> Any:
    try:
        payload = orjson.loads(await request.body())
    except orjson.JSONDecodeError as err:
        raise BadRequest(f'the body is not JSON ({err}); send {{"instances": [...]}}') from err
    if not isinstance(payload, dict) or "instances" not in payload:
        raise BadRequest('the body must be an object with "instances": [...]')
    return payload["instances"]


def create_app(router: Router, model_name: str, refresh_seconds: float = 10.0) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(router.refresh)

        async def poll() -> None:  # promotions, rollbacks and ramps apply without a restart
            while True:
                await asyncio.sleep(refresh_seconds)
                if router.request_log is not None:
                    router.request_log.maybe_roll()  # an idle server still ships its log
                try:
                    await asyncio.to_thread(router.refresh)
                except Exception:
                    log.exception(
                        "refresh from %s failed; serving what was loaded", router.registry.base
                    )

        task = asyncio.create_task(poll())
        yield
        task.cancel()
        if router.request_log is not None:  # on SIGTERM: the last segment is uploaded
            await asyncio.to_thread(router.request_log.close)

    app = FastAPI(title=f"{model_name} A/B model server", lifespan=lifespan)

    def known(name: str) -> None:
        if name != model_name:
            raise BadRequest(f"unknown model {name!r}; this server serves {model_name!r}")

    @app.exception_handler(BadRequest)
    async def bad_request(_: Request, err: BadRequest) -> Response:
        return _json({"error": str(err)}, 400)

    @app.exception_handler(NoModel)
    async def no_model(_: Request, err: NoModel) -> Response:
        return _json({"error": str(err)}, 503)

    @app.get("/healthz")
    async def healthz() -> (
        Response
    ):  # alive; readiness is /v1/models/<model> (503 until a champion)
        return _json({"ok": True})

    @app.get("/v1/models/{name}")
    async def status(name: str) -> Response:
        known(name)
        return _json({"name": name, "ready": True, **router.state.describe()})

    @app.post("/v1/models/{name}:predict")
    async def predict(name: str, request: Request) -> Response:
        known(name)
        instances = await _instances(request)
        code, body = router.route(
            request.headers.get("x-unit-id", ""), instances, request.headers.get("x-request-id")
        )
        headers = (
            {"x-arm": body["arm"], "x-model-version": body["model_version"]}
            if "arm" in body
            else None
        )
        return _json(body, code, headers)

    @app.post("/v1/models/{name}/versions/{version}:predict")
    async def predict_version(name: str, version: str, request: Request) -> Response:
        known(name)
        instances = await _instances(request)
        return _json(
            {"predictions": router.version(version).predict(instances), "model_version": version}
        )

    return app
