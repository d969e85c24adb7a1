"""The deploy section of the pipeline config."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from components.common.config import Strict


class DeployConfig(Strict):
    model_name: str = Field(
        pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
        description="registry folder and InferenceService name (DNS-1123)",
    )
    namespace: str = Field(default="ml-serving", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    rollout: Literal["ab", "replace"] = Field(
        default="ab",
        description="ab: a blessed model becomes the challenger beside the champion until the "
        "A/B readout promotes or rolls it back; replace: it becomes champion at once",
    )
    service_account: str = "model-server"
    cpu_request: str = "500m"
    memory_request: str = "1Gi"
    cpu_limit: str = "1"
    memory_limit: str = "2Gi"
