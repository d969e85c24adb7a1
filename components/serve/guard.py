"""What every request to the A/B server passes before a handler sees it: a bearer token, ids and
a body within their limits, the body read whole within a deadline. A request answered outside
the router (a rejection, the model's status, a version's own endpoint) gets its request-log line
here, with its HTTP status and reason, its arm null, so the readout can count it apart.

An ASGI middleware rather than FastAPI dependencies: it runs before the body is read, so an
unauthenticated or oversized request costs no buffering, and it sees every path, unknown ones too.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

import orjson

from components.common.artifacts import ServingLogs
from components.common.errors import ConfigError

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TICKET = "retrain.ticket"  # the scope key handlers find the request's Ticket under
OPEN_PATHS = frozenset({"/healthz", "/readyz"})  # kubelet probes: no token, not logged
MIN_TOKEN_CHARS = 32
UNIT_HEADER, REQUEST_HEADER = b"x-unit-id", b"x-request-id"
LOGGED_PATH_CHARS = 200


@dataclass(frozen=True)
class Limits:
    """Request limits: the body's size and how long it may take to arrive, the ids' length."""

    max_body_bytes: int = 1 << 20
    body_timeout_seconds: float = 5.0
    max_id_chars: int = 128

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1 or self.body_timeout_seconds <= 0 or self.max_id_chars < 1:
            raise ConfigError(f"limits must be positive: {self}")


class Tokens:
    """The bearer tokens the server accepts, from a file (a mounted Kubernetes Secret), one per
    line so a rotation can list the old token and the new. Re-read when the file changes (the
    kubelet updates a mounted Secret in place); a file that turns empty or unreadable keeps the
    tokens read before. Compared as SHA-256 digests with hmac.compare_digest: constant time, and
    the same length whatever the client sends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int] | None = None
        self._digests: tuple[bytes, ...] = ()
        problem = self._read()
        if problem:
            raise ConfigError(
                f"--token-file {path}: {problem}; write one random token per line, e.g. "
                "`openssl rand -hex 32` (on a cluster: the Secret of manifests/serving/)"
            )

    def _read(self) -> str | None:
        try:
            stat = self.path.stat()
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as err:
            return f"cannot be read ({err})"
        tokens = [t.strip() for t in lines if t.strip()]
        if not tokens:
            return "holds no token"
        short = [i + 1 for i, t in enumerate(tokens) if len(t) < MIN_TOKEN_CHARS]
        if short:
            return f"token(s) {short} are shorter than {MIN_TOKEN_CHARS} characters"
        self._digests = tuple(hashlib.sha256(t.encode()).digest() for t in tokens)
        self._seen = (stat.st_mtime_ns, stat.st_size)
        return None

    def reload(self) -> None:
        """Re-read the file if it changed since it was last read well."""
        try:
            stat = self.path.stat()
        except OSError:
            stat = None
        if stat is not None and (stat.st_mtime_ns, stat.st_size) == self._seen:
            return
        problem = self._read()
        if problem:
            log.error("token file %s %s; keeping the tokens read before", self.path, problem)
        else:
            log.info("token file %s re-read: %d token(s)", self.path, len(self._digests))

    def accepts(self, authorization: bytes | None) -> bool:
        """Whether an `Authorization` header value is `Bearer <an accepted token>`."""
        if not authorization:
            return False
        scheme, _, token = authorization.partition(b" ")
        digest = hashlib.sha256(token.strip()).digest()
        ok = scheme.lower() == b"bearer"
        matched = False
        for known in self._digests:  # every token compared: the time does not tell which
            matched |= hmac.compare_digest(digest, known)
        return ok and matched


@dataclass
class Ticket:
    """One request as the guard saw it; handlers mark it routed (the router wrote its log line)
    or give the reason of an error they answer."""

    request_id: str
    unit_id: str
    routed: bool = False
    reason: str | None = None
    model_version: str | None = None
    status: int | None = field(default=None)


class Guard:
    """ASGI middleware: authenticate, check ids and body, read the body within its deadline,
    then call the app with the body replayed; log every request the router did not log."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        tokens: Tokens | None,
        limits: Limits,
        write_log: Callable[[dict[str, Any]], None] | None,
    ) -> None:
        self.app, self.tokens, self.limits, self.write_log = app, tokens, limits, write_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name, value)  # the first of repeated headers, as Starlette reads
        limit = self.limits.max_id_chars
        unit = headers.get(UNIT_HEADER, b"").decode("latin-1")
        given = headers.get(REQUEST_HEADER, b"").decode("latin-1")
        ticket = Ticket(given if given and len(given) <= limit else uuid.uuid4().hex, unit)
        scope[TICKET] = ticket

        async def reject(status: int, reason: str, message: str, **extra: str) -> None:
            ticket.reason = reason
            await self._answer(send, ticket, status, message, extra)
            self._log(scope, ticket, started)

        if self.tokens is not None and not self.tokens.accepts(headers.get(b"authorization")):
            await reject(
                401,
                "unauthorized",
                "missing or wrong bearer token: send `Authorization: Bearer <token>`",
                **{"www-authenticate": "Bearer"},
            )
            return
        for header, value in ((UNIT_HEADER, unit), (REQUEST_HEADER, given)):
            if len(value) > limit:
                await reject(
                    400,
                    "id_too_long",
                    f"{header.decode()} has {len(value)} characters; at most {limit} are allowed",
                )
                return
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            await reject(413, "body_too_large", self._too_large(int(declared)))
            return
        body, failure = await self._read_body(receive)
        if failure == "client_disconnected":
            ticket.reason, ticket.status = failure, 499  # nginx's code: nobody to answer
            self._log(scope, ticket, started)
            return
        if failure == "body_too_large":
            await reject(413, failure, self._too_large(len(body)))
            return
        if failure == "body_timeout":
            await reject(
                408,
                failure,
                f"the body did not arrive within {self.limits.body_timeout_seconds:g} s",
            )
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: waits for the client to disconnect

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                ticket.status = message["status"]
            await send(message)

        try:
            await self.app(scope, replay, watch)
        except Exception:
            ticket.status, ticket.reason = 500, "internal_error"
            raise
        finally:
            if not ticket.routed:
                self._log(scope, ticket, started)

    @property
    def max_body(self) -> int:
        return self.limits.max_body_bytes

    def _too_large(self, size: int) -> str:
        return f"the body has {size} bytes or more; at most {self.max_body} are allowed"

    async def _read_body(self, receive: Receive) -> tuple[bytes, str | None]:
        """The whole body, or what arrived and why reading stopped."""
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.limits.body_timeout_seconds):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return b"", "client_disconnected"
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.max_body:
                        return b"", "body_too_large"
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks), None
        except TimeoutError:
            return b"", "body_timeout"

    @staticmethod
    async def _answer(
        send: Send, ticket: Ticket, status: int, message: str, extra: dict[str, str]
    ) -> None:
        """A JSON error; the connection is closed after it (the body may be partly unread)."""
        ticket.status = status
        body = orjson.dumps({"error": message, "request_id": ticket.request_id})
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            *((k.encode(), v.encode()) for k, v in extra.items()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    def _log(self, scope: Scope, ticket: Ticket, started: float) -> None:
        if self.write_log is None:
            return
        status = ticket.status or 500
        limit = self.limits.max_id_chars
        self.write_log(
            {
                "request_id": ticket.request_id,
                "unit_id": ticket.unit_id[:limit],
                "arm": None,
                "model_version": ticket.model_version,
                "status": ServingLogs.REJECTED if status >= 400 else ServingLogs.DIRECT,
                "http_status": status,
                "reason": ticket.reason or _reason(status),
                "method": scope.get("method"),
                "path": str(scope.get("path", ""))[:LOGGED_PATH_CHARS],
                "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            }
        )


def _reason(status: int) -> str | None:
    if status < 400:
        return None
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_")
    except ValueError:
        return "http_" + str(status)
