"""Image references for the KFP interfaces: families and tag from images.yaml, the registry from
the platform settings (Terraform's outputs). Pinned by digest only in the registry a publish
(`make publish-images REGISTRY=...`) pushed them to and recorded; elsewhere named by tag."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

from components.common.errors import ConfigError


@cache
def _settings() -> dict[str, Any]:
    text = resources.files("components").joinpath("images.yaml").read_text()
    settings: dict[str, Any] = yaml.safe_load(text)
    return settings


def _published(registry: str, settings: dict[str, Any]) -> dict[str, str]:
    """The digests recorded for `registry` by the last publish; none for any other registry."""
    published = settings.get("published") or {}
    recorded = str(published.get("registry") or "").rstrip("/")
    if not recorded or recorded != registry.rstrip("/"):
        return {}
    return dict(published.get("digests") or {})


def image_families() -> list[str]:
    """The families images.yaml names (base, beam, tf, ...)."""
    return list(_settings()["families"])


def image(family: str, registry: str, settings: dict[str, Any] | None = None) -> str:
    """The reference of `family`'s image in `registry`; `settings`: images.yaml's content."""
    settings = settings or _settings()
    families = settings["families"]
    if family not in families:
        raise ConfigError(f"unknown image family '{family}'; images.yaml has {sorted(families)}")
    name = f"{registry.rstrip('/')}/{families[family]}"
    digest = _published(registry, settings).get(family)
    return f"{name}@{digest}" if digest else f"{name}:{settings['tag']}"


def pinning(registry: str, settings: dict[str, Any] | None = None) -> str:
    """One sentence for a compiled file's header: how its images are named, and why."""
    settings = settings or _settings()
    digests = _published(registry, settings)
    tag = settings["tag"]
    if digests:
        unpinned = sorted(set(settings["families"]) - set(digests))
        rest = f"; {', '.join(unpinned)} by tag :{tag}" if unpinned else ""
        return (
            f"Images: pinned by digest in {registry.rstrip('/')}, where `make publish-images` "
            f"pushed {', '.join(sorted(digests))}{rest}."
        )
    recorded = str((settings.get("published") or {}).get("registry") or "")
    why = f"the last publish went to {recorded}" if recorded else "no publish was recorded"
    return (
        f"Images: tags :{tag} in {registry.rstrip('/')} ({why}); "
        f"`make publish-images REGISTRY={registry.rstrip('/')}` pushes them and pins digests."
    )
