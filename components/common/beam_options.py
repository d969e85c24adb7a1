"""Beam pipeline options for the Beam steps: their unknown flags, plus `--beam-options "..."`.

Without a `--runner`, the in-process FnApiRunner runs the job. Beam's DirectRunner would first
try the Prism runner, which downloads a binary at run time; pinning the in-process runner keeps a
local run the same on every machine. Dataflow, Flink or Spark flags pass through untouched.
"""

from __future__ import annotations

from typing import Any

IN_PROCESS_RUNNER = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"


def with_runner(args: list[str]) -> list[str]:
    """`args`, with the in-process runner added when they name no runner."""
    if any(a == "--runner" or a.startswith("--runner=") for a in args):
        return list(args)
    return [*args, f"--runner={IN_PROCESS_RUNNER}"]


def pipeline_options(args: list[str]) -> Any:
    from apache_beam.options.pipeline_options import PipelineOptions

    return PipelineOptions(with_runner(args))
