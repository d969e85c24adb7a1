"""CLI of the local A/B model server: serves the registry's champion and challenger behind the
sticky A/B router, logging every routed request as JSONL under the log root.

    python -m components.serve --registry-root local-gcs/retrain-dev-models/registry \
        --model-name reviews-sentiment --log-root serving-logs --port 8080
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
from collections.abc import Sequence
from pathlib import Path

from components.common.cli import run_cli
from components.common.errors import ConfigError
from components.common.registry import Registry
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
    router = Router(registry, request_log)
    if not router.refresh():  # keeps polling: ready (HTTP 200 on the model) once one exists
        log.warning("%s has no champion yet: answering 503 until one is published", registry.base)
    app = create_app(router, args.model_name, args.refresh_seconds)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("serve", _body, argv)
