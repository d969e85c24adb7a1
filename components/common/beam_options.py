"""Beam pipeline options for the Beam steps: their unknown flags, plus `--beam-options "..."`.

Without a `--runner`, the in-process FnApiRunner runs the job. Beam's DirectRunner would first
try the Prism runner, which downloads a binary at run time; pinning the in-process runner keeps a
local run the same on every machine. Dataflow, Flink or Spark flags pass through untouched.
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any

IN_PROCESS_RUNNER = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"


def with_runner(args: list[str]) -> list[str]:
    """`args`, with the in-process runner added when they name no runner."""
    if any(a == "--runner" or a.startswith("--runner=") for a in args):
        return list(args)
    return [*args, f"--runner={IN_PROCESS_RUNNER}"]


def in_process(args: list[str]) -> bool:
    """Whether these arguments run the job on the in-process runner (a single worker)."""
    runner = None
    for i, arg in enumerate(args):
        if arg.startswith("--runner="):
            runner = arg.split("=", 1)[1]
        elif arg == "--runner" and i + 1 < len(args):
            runner = args[i + 1]
    return runner in (None, IN_PROCESS_RUNNER, "FnApiRunner")


def pipeline_options(args: list[str]) -> Any:
    from apache_beam.options.pipeline_options import PipelineOptions

    return PipelineOptions(with_runner(args))


def beam_args(args: argparse.Namespace, unknown: list[str]) -> list[str]:
    """The step's Beam arguments: its unknown flags, then the words of `--beam-options`."""
    return [*unknown, *shlex.split(args.beam_options)]
