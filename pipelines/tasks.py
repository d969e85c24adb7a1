"""What every DAG does to its tasks: a step's component in its image, and requests and limits.

The DAG modules (retrain.py, ab_readout.py) share these, so neither imports the other.
"""

from __future__ import annotations

from typing import Any

from components.common.images import image
from pipelines.platform import Platform


def step(module: Any, platform: Platform) -> Any:
    """The component of a step's interface module (`components.<x>.component`), in its image."""
    return module.component(image(module.FAMILY, platform.image_registry))


def sized(task: Any, cpu: tuple[str, str], memory: tuple[str, str]) -> Any:
    """Requests and limits (request, limit) on a task: every container gets both."""
    task.set_cpu_request(cpu[0]).set_cpu_limit(cpu[1])
    return task.set_memory_request(memory[0]).set_memory_limit(memory[1])
