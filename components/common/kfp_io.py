"""Write KFP v2 executor output (artifact metadata, output parameters) from a container component.

KFP passes the executor input as JSON (the `{{$}}` placeholder); a container that writes the
file named in `outputs.outputFile` has its artifact metadata recorded, which is how the KFP UI
shows Metrics and ClassificationMetrics. The local runner reads the same file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from components.common import fs
from components.common.errors import ConfigError


def parse_executor_input(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"--executor-input is not JSON ({err}); pass KFP's {{{{$}}}}") from err
    if "outputs" not in value:
        raise ConfigError("--executor-input has no 'outputs'; pass KFP's {{$}} placeholder")
    return value


def write_executor_output(
    executor_input: dict[str, Any] | None,
    artifact_metadata: dict[str, dict[str, Any]],
    parameters: dict[str, Any] | None = None,
) -> Path | None:
    """Record metadata for the named output artifacts and output parameter values."""
    if executor_input is None:
        return None
    outputs = executor_input["outputs"]
    declared = outputs.get("artifacts", {})
    artifacts: dict[str, Any] = {}
    for name, metadata in artifact_metadata.items():
        if name not in declared:
            raise ConfigError(
                f"output artifact '{name}' is not declared in the executor input "
                f"(declared: {sorted(declared)})"
            )
        runtime = declared[name]["artifacts"][0]
        artifacts[name] = {
            "artifacts": [
                {
                    "name": runtime.get("name", name),
                    "uri": runtime.get("uri", ""),
                    "metadata": metadata,
                }
            ]
        }
    payload: dict[str, Any] = {"artifacts": artifacts}
    if parameters:
        payload["parameterValues"] = parameters
    path = Path(outputs["outputFile"])
    fs.write_json_atomic(path, payload)
    return path
