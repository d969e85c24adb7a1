"""Beam's portable Prism runner on this machine, its SDK workers in our images: a real runner
that is not the launcher's process, for the distributed tests and for trying beam_options.

    python scripts/prism.py up [--job-port 8073]   start the job server and the worker pools
    python scripts/prism.py status                 what runs, and the Beam options to pass
    python scripts/prism.py down                   stop and remove them

The job server (Prism, built from Beam's Go module by `make tools`) runs in a container of the
Beam image, its job port published on loopback only. Each worker pool (Beam's own
`apache_beam.runners.worker.worker_pool_main`, the EXTERNAL environment) runs in the image of
the steps it serves, sharing the job server's network namespace and nothing else: a read-only
root, a private /tmp, no folder of this machine mounted (bench/scale.py alone mounts its own
folder, `up(shared=...)`, to compare runners on the same local files). Prism hands its workers
`localhost` endpoints, which is why they share its namespace; in it Prism listens on the
container's interfaces, never on this machine's.

A job reaches gs:// through STORAGE_EMULATOR_HOST when it is set (a GCS emulator listening on
the Docker bridge's gateway, which the containers reach).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

JOB_SERVER = "retrain-prism"
# worker pool container -> (image family, port in the job server's namespace)
POOLS = {"retrain-prism-beam": ("beam", 50000), "retrain-prism-tf": ("tf", 50001)}
# The image family each Beam step's workers run (its component.py's FAMILY).
STEP_FAMILY = {"preprocess": "beam", "dataset": "tf"}
ENV_PASSED = ("STORAGE_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT")


class PrismError(Exception):
    pass


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["docker", *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise PrismError(f"docker {' '.join(args[:3])} ...: {done.stderr.strip()[-500:]}")
    return done


def images(path: Path = REPO / "build" / "images.json") -> dict[str, str]:
    """family -> local image reference, from the last `make images`."""
    if not path.is_file():
        raise PrismError(f"{path} is missing: run `make images` first")
    return {family: build["ref"] for family, build in json.loads(path.read_text()).items()}


# The digest of the project's code, as the images hold it under /app and this checkout does.
CODE_DIGEST = (
    "import hashlib, pathlib, sys; root = pathlib.Path(sys.argv[1]); d = hashlib.sha256()\n"
    "for p in sorted(root.rglob('*.py')):\n"
    "    d.update(str(p.relative_to(root)).encode() + b'\\0' + p.read_bytes())\n"
    "print(d.hexdigest())\n"
)


def check_code(refs: dict[str, str]) -> None:
    """The workers must run this checkout's code: an image built before a change would run
    the old code (or fail on a missing name) where the launcher runs the new."""
    here = subprocess.run(
        [sys.executable, "-c", CODE_DIGEST, str(REPO / "components")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    for family in sorted(set(STEP_FAMILY.values())):
        there = docker("run", "--rm", refs[family], "python", "-c", CODE_DIGEST, "/app/components")
        if there.stdout.strip() != here:
            raise PrismError(
                f"{refs[family]} holds other code than {REPO / 'components'}: "
                "run `make images` to build this checkout into the images"
            )


def prism_binary() -> str:
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "tools.py"), "path", "prism"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise PrismError(f"prism is not built: {done.stderr.strip()} (run `make tools`)")
    return done.stdout.strip()


def bridge_gateway() -> str:
    """The Docker bridge's gateway address: this machine as the containers see it (the bridge
    interface's address; Docker's network record leaves the gateway out when it is the default,
    the subnet's first address)."""
    done = docker("network", "inspect", "bridge", "--format", "{{json .}}")
    network = json.loads(done.stdout)
    config = (network.get("IPAM", {}).get("Config") or [{}])[0]
    if config.get("Gateway"):
        return str(config["Gateway"])
    import ipaddress

    return str(next(ipaddress.ip_network(config["Subnet"]).hosts()))


def beam_options(step: str, job_port: int = 8073) -> list[str]:
    """The Beam options that run `step` (preprocess, dataset) on the running Prism."""
    family = STEP_FAMILY[step]
    port = next(p for f, p in POOLS.values() if f == family)
    return [
        "--runner=PortableRunner",
        f"--job_endpoint=localhost:{job_port}",
        "--environment_type=EXTERNAL",
        f"--environment_config=localhost:{port}",
    ]


def running() -> dict[str, str]:
    """container name -> status, for ours that exist."""
    names = [JOB_SERVER, *POOLS]
    done = docker("ps", "-a", "--format", "{{.Names}}\t{{.Status}}", check=False)
    found = dict(line.split("\t", 1) for line in done.stdout.splitlines() if "\t" in line)
    return {n: found[n] for n in names if n in found}


def listening(container: str, port: int) -> bool:
    """Whether something in `container`'s network namespace accepts connections on `port`."""
    probe = f"import socket; socket.create_connection(('localhost', {port}), timeout=1).close()"
    return docker("exec", container, "python", "-c", probe, check=False).returncode == 0


def down() -> None:
    for name in [*POOLS, JOB_SERVER]:
        docker("rm", "-f", name, check=False)


def up(job_port: int = 8073, timeout: float = 60.0, shared: Path | None = None) -> None:
    """Start the job server and the worker pools. `shared`: a folder of this machine the workers
    see at the same path, read-write, as this machine's user (a shared filesystem, for
    bench/scale.py's local folders); by default they see none."""
    refs = images()
    check_code(refs)
    binary = prism_binary()
    down()
    env = [f"--env={k}={os.environ[k]}" for k in ENV_PASSED if k in os.environ]
    mounts = (
        [f"--volume={shared}:{shared}", f"--user={os.getuid()}:{os.getgid()}"] if shared else []
    )
    sandbox = ["--read-only", "--tmpfs=/tmp", "--security-opt=no-new-privileges"]
    docker(
        "run", "-d", f"--name={JOB_SERVER}", *sandbox,
        f"--publish=127.0.0.1:{job_port}:{job_port}",
        f"--volume={binary}:/usr/local/bin/prism:ro",
        refs["beam"], "prism", f"--job_port={job_port}", "--serve_http=false",
    )  # fmt: skip
    for name, (family, port) in POOLS.items():
        docker(
            "run", "-d", f"--name={name}", *sandbox, *env, *mounts,
            f"--network=container:{JOB_SERVER}",
            refs[family], "python", "-m", "apache_beam.runners.worker.worker_pool_main",
            f"--service_port={port}",
        )  # fmt: skip
    deadline = time.monotonic() + timeout
    while True:
        ready = all(listening(name, port) for name, (_, port) in POOLS.items())
        states = running()
        dead = [n for n, s in states.items() if not s.startswith("Up")]
        if dead:
            tail = docker("logs", "--tail=5", dead[0], check=False)
            raise PrismError(f"{dead[0]} exited: {(tail.stderr or tail.stdout).strip()}")
        if ready:
            return
        if time.monotonic() > deadline:
            raise PrismError(f"the worker pools did not start within {timeout:.0f} s")
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--job-port", type=int, default=8073)
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            up(args.job_port)
        elif args.command == "down":
            down()
            print("prism: stopped")
            return 0
        states = running()
        if not states:
            print("prism: not running (python scripts/prism.py up)")
            return 1
        for name, state in states.items():
            print(f"{name:22} {state}")
        for step in STEP_FAMILY:
            print(f"{step}: --beam-options '{' '.join(beam_options(step, args.job_port))}'")
        print(f"logs: docker logs {JOB_SERVER} (and {', '.join(POOLS)})")
        return 0
    except PrismError as err:
        print(f"prism: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
