"""Container mode of the local IR runner (pipelines/local/kfp.py): each task runs in its
component's image with `docker run`.

The command and placeholders are the subprocess mode's; only the wrapper differs. Host paths the
task sees (the run folder, the folder standing in for the buckets, absolute paths among its
parameters) are bind-mounted at the same path, so the resolved placeholders mean the same inside.
The container runs as a non-root user, with the settings the cluster manifests give every pod:
read-only root filesystem, /tmp writable, all capabilities dropped, no privilege escalation.
Images come from the last `scripts/build_images.sh` (build/images.json), matched by name.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines import ir
from pipelines.catalog import IMAGE_UID

BUILT = Path("build/images.json")
IMAGE_USER = f"{IMAGE_UID}:{IMAGE_UID}"  # the images' own user (images/base.Dockerfile)


def _repository_name(ref: str) -> str:
    """us-docker.pkg.dev/p/r/retrain-tf@sha256:.. or ...:0.1.0 -> retrain-tf."""
    last = ref.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


@dataclass
class ContainerMode:
    images: dict[str, dict[str, Any]]  # repository name -> build record (ref, id, digest, ...)
    mounts: list[Path]  # folders mounted read-write at the same path
    docker: str = "docker"
    user: str = IMAGE_USER
    notes: list[str] = field(default_factory=list)
    _prepared: bool = field(default=False, init=False)

    @classmethod
    def from_build(cls, built: Path, mounts: list[Path], docker: str = "docker") -> ContainerMode:
        if shutil.which(docker) is None:
            raise ir.IRError(f"container mode needs the '{docker}' command on PATH")
        if not built.exists():
            raise ir.IRError(
                f"{built} does not exist: build the images first (`make images`, or "
                "scripts/build_images.sh)"
            )
        families = json.loads(built.read_text())
        images = {_repository_name(b["ref"]): b for b in families.values()}
        # As root, a mounted folder is made writable for the images' user; as anyone else,
        # the container runs as that user, so what it writes stays theirs.
        user = IMAGE_USER if os.getuid() == 0 else f"{os.getuid()}:{os.getgid()}"
        return cls(images, [m.resolve() for m in mounts], docker=docker, user=user)

    def image_for(self, ref: str) -> str:
        """The local image for the manifest's image reference. A GPU image that was not built
        (its CUDA base cannot be pulled everywhere) runs as its CPU twin, said once."""
        name = _repository_name(ref)
        build = self.images.get(name)
        if build is None and name.endswith("-gpu") and name.removesuffix("-gpu") in self.images:
            build = self.images[name.removesuffix("-gpu")]
            note = f"{name} was not built here; its tasks run in {build['ref']} (CPU)"
            if note not in self.notes:
                self.notes.append(note)
                print(f"note: {note}", flush=True)
        if build is None:
            raise ir.IRError(
                f"no local image for {ref}: build/images.json has {sorted(self.images)}; "
                "run `make images`"
            )
        digest = ref.split("@", 1)[1] if "@" in ref else None
        if digest and build.get("digest") and digest != build["digest"]:
            raise ir.IRError(
                f"the manifest pins {ref}, but the last build made {build['ref']} with digest "
                f"{build['digest']}: run `make compile` after `make images`"
            )
        return str(build["ref"])

    def prepare(self, task_dir: Path) -> None:
        """Let the images' user write where a task writes (only when running as root): the
        mounted folders on the first call, then only the folder the runner made for the task
        (what containers wrote before is theirs already)."""
        if self.user != IMAGE_USER or os.getuid() != 0:
            return
        uid, gid = (int(x) for x in IMAGE_USER.split(":"))
        roots = [task_dir] if self._prepared else self.mounts
        for root in roots:
            root.mkdir(parents=True, exist_ok=True)
            for path in [root, *root.rglob("*")]:
                if not path.is_symlink():
                    os.chown(path, uid, gid)
        self._prepared = True

    def argv(self, image_ref: str, argv: list[str], env: dict[str, str], params: Any) -> list[str]:
        """`docker run ...` for one task: same argv, same paths, the pod's security settings."""
        image = self.image_for(image_ref)
        mounts = [f"--volume={m}:{m}" for m in self.mounts]
        existing, missing = _host_paths(params)
        for path in existing:
            if not any(path.is_relative_to(m) for m in self.mounts):
                mounts.append(f"--volume={path}:{path}:ro")
        for path in missing:
            if not any(path.is_relative_to(m) for m in self.mounts):
                print(
                    f"warning: parameter path {path} does not exist and is on no mount, so the "
                    "container cannot write it; use a gs:// path (it maps into the local-gcs "
                    "folder, which is mounted) or a path under the run folder",
                    flush=True,
                )
        return [
            self.docker,
            "run",
            "--rm",
            f"--user={self.user}",
            "--read-only",
            "--tmpfs=/tmp:rw,exec",
            "--cap-drop=ALL",
            "--security-opt=no-new-privileges",
            *mounts,
            *(f"--env={k}={v}" for k, v in sorted(env.items())),
            image,
            *argv,
        ]


def _host_paths(params: Any) -> tuple[list[Path], list[Path]]:
    """Absolute host paths among the task's parameter values (a data file, a config): those that
    exist (for a glob pattern, the nearest existing folder above it), and those that do not."""
    existing: set[Path] = set()
    missing: set[Path] = set()
    values = params.values() if isinstance(params, dict) else params
    for value in values:
        if not (isinstance(value, str) and value.startswith("/") and "\n" not in value):
            continue
        path = Path(value)
        pattern = any(ch in value for ch in "*?[{")
        while (any(ch in str(path) for ch in "*?[{") or (pattern and not path.exists())) and (
            path != path.parent
        ):
            path = path.parent
        if path == Path("/"):
            continue
        (existing if path.exists() else missing).add(path.resolve())
    return sorted(existing), sorted(missing)


def engine_answers(docker: str = "docker") -> str | None:
    """None when a Docker engine answers; otherwise why not (for skips and errors)."""
    if shutil.which(docker) is None:
        return f"no '{docker}' command on PATH"
    probe = subprocess.run([docker, "info"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return "no Docker engine answers (`docker info` failed): " + probe.stderr.strip()[-200:]
    return None
