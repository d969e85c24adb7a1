"""Image references for the KFP interfaces: families and tag from images.yaml, the registry from
the platform settings (Terraform's outputs). Pinned by digest once a build has recorded it."""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml

from components.common.errors import ConfigError


@cache
def _settings() -> dict:
    return yaml.safe_load(resources.files("components").joinpath("images.yaml").read_text())


def image(family: str, registry: str) -> str:
    settings = _settings()
    families = settings["families"]
    if family not in families:
        raise ConfigError(f"unknown image family '{family}'; images.yaml has {sorted(families)}")
    name = f"{registry.rstrip('/')}/{families[family]}"
    digest = (settings.get("digests") or {}).get(family)
    return f"{name}@{digest}" if digest else f"{name}:{settings['tag']}"
