"""Model identity: the config's top-level `model:` section, which every step may read.

The registry folder, the InferenceService, the serving logs and the run records all name the
model by `model.name`; no step asks another step's section for it.
"""

from __future__ import annotations

from pydantic import Field

from components.common.config import Strict, load_section, load_yaml
from components.common.errors import ConfigError

SECTION = "model"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"


class ModelConfig(Strict):
    name: str = Field(
        pattern=DNS_LABEL,
        description="registry folder and InferenceService name (DNS-1123 label)",
    )
    namespace: str = Field(
        default="ml-serving",
        pattern=DNS_LABEL,
        description="Kubernetes namespace the model serves in",
    )


def load_model(config_uri: str) -> ModelConfig:
    """The `model:` section of the pipeline config at `config_uri`."""
    data = load_yaml(config_uri)
    legacy = data.get("deploy") or {}
    if SECTION not in data and isinstance(legacy, dict) and "model_name" in legacy:
        raise ConfigError(
            f"{config_uri}: deploy.model_name (and deploy.namespace) moved to a top-level "
            f"section; write 'model:\\n  name: {legacy['model_name']}' instead"
        )
    return load_section(config_uri, SECTION, ModelConfig)
