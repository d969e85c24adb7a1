"""The deploy section of the pipeline config: the rollout, and the serving settings the
InferenceService is rendered from (components.common.kserve). The model's name and namespace
are the top-level `model:` section (components.common.model)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from components.common.kserve import ServingSettings


class DeployConfig(ServingSettings):
    rollout: Literal["ab", "replace"] = Field(
        default="ab",
        description="ab: a blessed model becomes the challenger beside the champion until the "
        "A/B readout promotes or rolls it back; replace: it becomes champion at once",
    )
