"""The deploy section of the pipeline config."""

from __future__ import annotations

from pydantic import Field

from components.common.config import Strict


class DeployConfig(Strict):
    model_name: str = Field(
        pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
        description="registry folder and InferenceService name (DNS-1123)",
    )
    namespace: str = Field(default="ml-serving", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    service_account: str = "model-server"
    cpu_request: str = "500m"
    memory_request: str = "1Gi"
    cpu_limit: str = "1"
    memory_limit: str = "2Gi"
