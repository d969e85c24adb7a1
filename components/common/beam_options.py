"""Beam pipeline options for the Beam steps: their unknown flags, plus `--beam-options "..."`.

Without a `--runner`, the in-process FnApiRunner runs the job. Beam's DirectRunner would first
try the Prism runner, which downloads a binary at run time; pinning the in-process runner keeps a
local run the same on every machine. Dataflow, Flink or Spark flags pass through untouched.

On a runner that starts its own workers (Dataflow, Flink, Spark, a portable job server) they
must run the step's code: unless the options say how the SDK workers run
(`--sdk_container_image`, `--environment_type`, `--environment_config`), the step's own image
(`--beam-worker-image`, which the compiled pipeline passes) becomes Dataflow's
`--sdk_container_image`, or the portable runners' Docker environment
(`--environment_type=DOCKER --environment_config=IMAGE`).
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from components.common.errors import ConfigError, UnreachableError

IN_PROCESS_RUNNER = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"


def with_runner(args: list[str]) -> list[str]:
    """`args`, with the in-process runner added when they name no runner."""
    if any(a == "--runner" or a.startswith("--runner=") for a in args):
        return list(args)
    return [*args, f"--runner={IN_PROCESS_RUNNER}"]


def runner_of(args: list[str]) -> str | None:
    """The --runner these arguments name (the last one), or None."""
    runner = None
    for i, arg in enumerate(args):
        if arg.startswith("--runner="):
            runner = arg.split("=", 1)[1]
        elif arg == "--runner" and i + 1 < len(args):
            runner = args[i + 1]
    return runner


def in_process(args: list[str]) -> bool:
    """Whether these arguments run the job on the in-process runner with a single worker (not
    `--direct_num_workers` of 2 or more)."""
    if runner_of(args) not in (None, IN_PROCESS_RUNNER, "FnApiRunner"):
        return False
    from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions

    workers = PipelineOptions(args).view_as(DirectOptions).direct_num_workers
    return workers in (None, 0, 1)


# Runners whose workers are started by the runner, away from the launcher (Beam's names,
# lower-cased, as its runner lookup reads them).
REMOTE_RUNNERS = ("dataflowrunner", "flinkrunner", "sparkrunner", "portablerunner")


def runner_name(args: list[str]) -> str:
    """The runner's name as Beam's lookup reads it: `FlinkRunner`, `flink` -> `flinkrunner`."""
    name = (runner_of(args) or "").rsplit(".", 1)[-1].lower()
    return name if name.endswith("runner") else name + "runner"


def remote(args: list[str]) -> bool:
    """Whether the runner starts its own workers, which then need the step's code."""
    return runner_name(args) in REMOTE_RUNNERS


# Beam's PortableRunner (under FlinkRunner and SparkRunner too) opens the running job's state
# and message streams with --job_server_timeout as their deadline, 300 s by default: a job that
# runs longer fails in the launcher with DEADLINE_EXCEEDED while it goes on in the job server.
PORTABLE_RUNNERS = ("flinkrunner", "sparkrunner", "portablerunner")
JOB_STREAM_TIMEOUT = 86_400  # seconds: a day, unless the options set --job_server_timeout
PROBE_SECONDS = 30.0  # how long the job endpoint may take to accept a connection


def sets(args: list[str], flags: tuple[str, ...]) -> bool:
    """Whether `args` give any of `flags` (as `--flag=value` or `--flag value`)."""
    return any(a.split("=", 1)[0] in flags for a in args)


def with_job_timeout(args: list[str]) -> list[str]:
    """`args`, with a day as --job_server_timeout on a portable runner that sets none."""
    named = sets(args, ("--job_server_timeout", "--job-server-timeout"))
    if runner_name(args) not in PORTABLE_RUNNERS or named:
        return list(args)
    return [*args, f"--job_server_timeout={JOB_STREAM_TIMEOUT}"]


def check_job_endpoint(args: list[str], seconds: float = PROBE_SECONDS) -> None:
    """With the long job timeout, Beam would wait that long for a job server that is not
    there: UnreachableError (retryable) when --job_endpoint accepts no connection in `seconds`."""
    import socket

    from apache_beam.options.pipeline_options import PipelineOptions, PortableOptions

    if runner_name(args) not in PORTABLE_RUNNERS:
        return
    endpoint = PipelineOptions(args).view_as(PortableOptions).job_endpoint
    if not endpoint or endpoint == "embed":
        return
    host, _, port = endpoint.rpartition(":")
    if not port.isdigit():
        raise ConfigError(f"--job_endpoint={endpoint}: expected HOST:PORT")
    try:
        socket.create_connection((host.strip("[]") or "localhost", int(port)), seconds).close()
    except OSError as err:
        raise UnreachableError(
            f"the Beam job server at --job_endpoint={endpoint} accepted no connection within "
            f"{seconds:.0f} s ({err}); check that it runs and listens there (for Prism: "
            "python scripts/prism.py status)"
        ) from err


def pipeline_options(args: list[str]) -> Any:
    from apache_beam.options.pipeline_options import PipelineOptions

    check_job_endpoint(args)
    return PipelineOptions(with_job_timeout(with_runner(args)))


WORKER_FLAGS = ("--sdk_container_image", "--environment_type", "--environment_config")


def with_worker_image(args: list[str], image: str) -> list[str]:
    """`args`, with `image` as the workers' container when a remote runner would otherwise
    start workers without the step's code; ConfigError when it would and no image is known."""
    if not remote(args) or sets(args, WORKER_FLAGS):
        return list(args)
    if not image:
        raise ConfigError(
            "a remote Beam runner needs the image its workers run: pass --beam-worker-image "
            "IMAGE or --sdk_container_image=IMAGE (the step's image, built by make images and "
            "pushed by make publish-images), or say how the workers run (--environment_type)"
        )
    if runner_name(args) == "dataflowrunner":
        return [*args, f"--sdk_container_image={image}"]
    # The portable runners (Flink, Spark, a job server) start Docker workers of the image
    # environment_config names; they do not read sdk_container_image.
    return [*args, "--environment_type=DOCKER", f"--environment_config={image}"]


def beam_args(args: argparse.Namespace, unknown: list[str]) -> list[str]:
    """The step's Beam arguments: its unknown flags, then the words of `--beam-options`, and the
    workers' image for a remote runner (with_worker_image)."""
    given = [*unknown, *shlex.split(args.beam_options)]
    return with_worker_image(given, getattr(args, "beam_worker_image", ""))
