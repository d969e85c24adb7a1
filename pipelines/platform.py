"""Platform settings the compilers read: Terraform's `pipeline_platform` output, as a JSON file.

`scripts/platform_from_terraform.sh ENV` writes config/platform.json from `terraform output`, so
the compiled manifests match the infrastructure: GPU node selector and tolerations (no `gpu`: a
cluster without a GPU pool, where training runs on CPU), buckets, image registry, the namespace
and service account workflows run as (the defaults the Kustomize overlay of manifests/ changes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PLATFORM = REPO_ROOT / "config" / "platform.json"


class PlatformError(Exception):
    """The platform file is missing or does not have what the compilers need."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Toleration(_Model):
    key: str
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]

    @property
    def operator(self) -> str:
        return "Exists" if self.value is None else "Equal"


class Gpu(_Model):
    resource: str = "nvidia.com/gpu"
    accelerator: str | None = None
    node_selector: dict[str, str]
    tolerations: list[Toleration]


class Platform(_Model):
    project_id: str
    region: str
    buckets: dict[str, str]
    image_registry: str
    namespace: str
    service_account: str
    pipeline_gcp_sa: str | None = None  # Workload Identity: the GCP identity workflows act as
    serving_gcp_sa: str | None = None  # Workload Identity: the A/B model server's identity
    gpu: Gpu | None = None  # None: no GPU pool; the train step asks for no GPU

    def bucket(self, role: str) -> str:
        if role not in self.buckets:
            raise PlatformError(f"platform has no '{role}' bucket; it has {sorted(self.buckets)}")
        return self.buckets[role].rstrip("/")


def load(path: Path = DEFAULT_PLATFORM) -> Platform:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise PlatformError(
            f"{path}: no platform file; run scripts/platform_from_terraform.sh "
            "ENV, or restore config/platform.json"
        ) from None
    except json.JSONDecodeError as err:
        raise PlatformError(f"{path}: not valid JSON: {err}") from err
    try:
        return Platform.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise PlatformError(f"{path}: {problems}") from err
