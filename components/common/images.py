"""Container image references for the KFP interfaces, from the one setting in images.yaml.

Read from a committed file inside the package (never the environment), so compiling twice gives
the same bytes; an image is pinned by digest once scripts/build_images.sh has recorded it.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml

from components.common.errors import ConfigError


@cache
def _settings() -> dict:
    return yaml.safe_load(resources.files("components").joinpath("images.yaml").read_text())


def image(family: str) -> str:
    settings = _settings()
    families = settings["families"]
    if family not in families:
        raise ConfigError(f"unknown image family '{family}'; images.yaml has {sorted(families)}")
    name = f"{settings['registry']}/{families[family]}"
    digest = (settings.get("digests") or {}).get(family)
    return f"{name}@{digest}" if digest else f"{name}:{settings['tag']}"
