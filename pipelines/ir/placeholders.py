"""The placeholders of KFP v2 IR, defined once for every backend that reads them.

A container's command, args and env carry `{{$...}}` placeholders; the Argo compiler translates
them to Argo variables and the local IR runner resolves them to paths and values. Both match them
with these patterns, so they cannot disagree about what a placeholder is.
"""

from __future__ import annotations

import re

PLACEHOLDER = re.compile(r"\{\{\$[^{}]*\}\}")  # any placeholder inside a string
# {{$.inputs.parameters['x']}}, {{$.outputs.artifacts['y'].path}}, ...
# as (direction, kind, name, attribute)
IO = re.compile(
    r"^\{\{\$\.(inputs|outputs)\.(parameters|artifacts)\['([^']+)'\]"
    r"(?:\.(path|uri|output_file|metadata))?\}\}$"
)
# A parameter a trigger condition (CEL) reads: inputs.parameter_values['x'].
CONDITION_PARAMETER = re.compile(r"inputs\.parameter_values\['([^']+)'\]")

EXECUTOR_INPUT = "{{$}}"
OUTPUT_FILE = "{{$.outputs.output_file}}"
JOB_NAME = "{{$.pipeline_job_name}}"
JOB_RESOURCE_NAME = "{{$.pipeline_job_resource_name}}"
JOB_UUID = "{{$.pipeline_job_uuid}}"
JOB_CREATE_TIME = "{{$.pipeline_job_create_time_utc}}"
JOB_SCHEDULE_TIME = "{{$.pipeline_job_schedule_time_utc}}"
PIPELINE_ROOT = "{{$.pipeline_root}}"
TASK_NAME = "{{$.pipeline_task_name}}"
TASK_UUID = "{{$.pipeline_task_uuid}}"

# The name under which a backend carries the KFP executor output file (OUTPUT_FILE: artifact
# metadata such as metrics) as an artifact of the task.
EXECUTOR_OUTPUT = "executor-output"


def is_structured(text: str) -> bool:
    """A JSON placeholder (IfPresent/Concat), which no backend here supports."""
    return text.startswith("{") and not text.startswith("{{")
