"""CLI of the local A/B model server: serves the registry's champion and challenger behind the
sticky A/B router, logging every request as JSONL under the log root.

    python -m components.serve --registry-root local-gcs/retrain-dev-models/registry \
        --model-name reviews-sentiment --log-root serving-logs --port 8080

Clients send `Authorization: Bearer <token>` with a token of --token-file (on a cluster, the
mounted Secret). Without --token-file it serves unauthenticated, on a loopback --host only.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import socket
from collections.abc import Sequence
from pathlib import Path

from components.common.cli import run_cli
from components.common.errors import ConfigError
from components.common.registry import Registry
from components.serve.guard import Limits, Tokens
from components.serve.requestlog import RequestLog
from components.serve.router import Router

log = logging.getLogger(__name__)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m components.serve",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--registry-root", required=True, help="local folder or gs://bucket/prefix")
    parser.add_argument(
        "--model-name", required=True, help="the registry's model (the config's model.name)"
    )
    parser.add_argument(
        "--log-root", type=Path, default=None, help="request logs go under it (default: none)"
    )
    parser.add_argument(
        "--log-upload",
        default=None,
        help="copy the request log in segments to this folder or gs:// prefix (a server on a "
        "cluster: the readout reads the bucket), deleting each local segment once copied",
    )
    parser.add_argument(
        "--roll-seconds", type=float, default=300.0, help="segment length with --log-upload"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--refresh-seconds", type=float, default=10.0, help="how often to re-read the pointers"
    )
    auth = parser.add_mutually_exclusive_group()
    auth.add_argument(
        "--token-file",
        type=Path,
        default=None,
        help="accept `Authorization: Bearer <token>` for a token in this file (one per line, "
        "at least 32 characters; re-read when it changes); every path but /healthz and /readyz "
        "needs one",
    )
    auth.add_argument(
        "--no-auth",
        action="store_true",
        help="serve unauthenticated (the default without --token-file); loopback --host only",
    )
    limits = Limits()
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=limits.max_body_bytes,
        help="a larger body is refused with 413",
    )
    parser.add_argument(
        "--body-timeout",
        type=float,
        default=limits.body_timeout_seconds,
        help="seconds a request body may take to arrive; then 408 and the connection closes",
    )
    parser.add_argument(
        "--max-id-chars",
        type=int,
        default=limits.max_id_chars,
        help="a longer x-unit-id or x-request-id is refused with 400",
    )
    parser.add_argument("--predict-threads", type=int, default=4, help="threads predictions run in")
    parser.add_argument(
        "--server-id",
        default=f"{socket.gethostname()}-{os.getpid()}",
        help="names this server's log file (one writer per file)",
    )
    return parser.parse_args(argv)


def _body(argv: Sequence[str] | None) -> int:
    import uvicorn

    from components.serve.app import create_app

    args = parse_args(argv)
    registry = Registry(args.registry_root, args.model_name)
    if args.log_upload and not args.log_root:
        raise ConfigError(
            "--log-upload needs --log-root (the local folder segments are written to)"
        )
    request_log = (
        RequestLog(
            args.log_root, args.model_name, args.server_id, args.log_upload, args.roll_seconds
        )
        if args.log_root
        else None
    )
    tokens = Tokens(args.token_file) if args.token_file else None
    if tokens is None and not _loopback(args.host):
        raise ConfigError(
            f"--host {args.host} without --token-file would serve anyone who can reach it; give "
            "--token-file (a file with the token clients send as `Authorization: Bearer`), "
            "or serve on 127.0.0.1"
        )
    if tokens is None:
        log.warning("serving without authentication on %s (loopback only)", args.host)
    limits = Limits(args.max_body_bytes, args.body_timeout, args.max_id_chars)
    if args.predict_threads < 1:
        raise ConfigError(f"--predict-threads {args.predict_threads}: give 1 or more")
    router = Router(registry, request_log)
    # The first refresh runs at startup (lifespan); a bad pointer never stops the server: it
    # answers 503 on /readyz, naming the file, until it is fixed, and keeps polling.
    app = create_app(
        router,
        args.model_name,
        args.refresh_seconds,
        tokens=tokens,
        limits=limits,
        predict_threads=args.predict_threads,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("serve", _body, argv)
