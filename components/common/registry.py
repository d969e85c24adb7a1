"""A model registry on a folder or bucket: immutable versions and a `champion` pointer.

Layout under <root>/<model_name>/:
  versions/<version>/          one immutable version; visible only once `_COMMITTED` is in it
      model/1/saved_model.pb   TF Serving / KServe layout (storageUri = versions/<version>/model)
      metadata.json
  champion.json                the version serving now, moved only by a complete publish
  history.jsonl                every pointer move, with its reason

Local roots publish a version by renaming a fully written staging folder (atomic on one file
system) and move the pointer with os.replace. gs:// roots write the marker last and move the
pointer with a generation precondition, so two writers can never both win.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.common import fs
from components.common.errors import PublishError

log = logging.getLogger(__name__)

COMMITTED = "_COMMITTED"
CHAMPION = "champion.json"
HISTORY = "history.jsonl"
MODEL_SUBDIR = "model"
SERVING_VERSION = "1"


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Registry:
    root: str
    model_name: str

    @property
    def base(self) -> str:
        return fs.join(self.root, self.model_name)

    def version_uri(self, version: str) -> str:
        return fs.join(self.base, "versions", version)

    def serving_uri(self, version: str) -> str:
        """What KServe's storageUri points at (it holds the numbered TF Serving folder)."""
        return fs.join(self.version_uri(version), MODEL_SUBDIR)

    def saved_model_uri(self, version: str) -> str:
        return fs.join(self.serving_uri(version), SERVING_VERSION)

    # ---- reading -------------------------------------------------------------------------
    def versions(self) -> list[str]:
        """Committed versions, oldest first; half-published ones are invisible."""
        markers = fs.match(fs.join(self.base, "versions", "*", COMMITTED))
        return sorted(Path(m).parent.name for m in markers)

    def champion(self) -> dict[str, Any] | None:
        uri = fs.join(self.base, CHAMPION)
        if not fs.exists(uri):
            return None
        pointer = fs.read_json(uri)
        if pointer["version"] not in self.versions():
            raise PublishError(
                f"{uri} points at version {pointer['version']} which is not "
                f"committed; the registry is inconsistent"
            )
        return pointer

    # ---- writing -------------------------------------------------------------------------
    def publish(
        self,
        model_dir: Path,
        version: str,
        metadata: dict[str, Any],
        extras: dict[str, Path] | None = None,
    ) -> str:
        """Copy a SavedModel, its metadata and `extras` (name -> file, kept beside metadata.json,
        e.g. the training data's statistics) in as an immutable version; return its URI."""
        extras = extras or {}
        if version in self.versions():
            raise PublishError(
                f"version {version} already exists under {self.base}; versions are immutable"
            )
        if fs.is_remote(self.root):
            return self._publish_remote(model_dir, version, metadata, extras)
        final = fs.local_path(self.version_uri(version))
        if final.exists():
            raise PublishError(
                f"{final} exists without {COMMITTED}; remove it by hand after "
                "checking no publish is running"
            )
        staging = fs.local_path(self.base) / ".staging" / f"{version}-{uuid.uuid4().hex[:8]}"
        staging.mkdir(parents=True)
        try:
            shutil.copytree(model_dir, staging / MODEL_SUBDIR / SERVING_VERSION)
            fs.write_json_atomic(staging / "metadata.json", metadata)
            for name, path in extras.items():
                shutil.copy2(path, staging / name)
            fs.write_text_atomic(staging / COMMITTED, utc_now() + "\n")
            final.parent.mkdir(parents=True, exist_ok=True)
            os.rename(staging, final)  # atomic: the version appears whole or not at all
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        log.info("published %s", final)
        return str(final)

    def _publish_remote(
        self, model_dir: Path, version: str, metadata: dict[str, Any], extras: dict[str, Path]
    ) -> str:
        FileSystems = fs.beam_filesystems()

        dest = self.version_uri(version)
        fs.upload_tree(model_dir, self.saved_model_uri(version))
        with FileSystems.create(fs.join(dest, "metadata.json")) as out:
            out.write(json.dumps(metadata, indent=2, sort_keys=True).encode())
        for name, path in extras.items():
            with path.open("rb") as src, FileSystems.create(fs.join(dest, name)) as out:
                shutil.copyfileobj(src, out)
        with FileSystems.create(fs.join(dest, COMMITTED)) as out:  # written last
            out.write((utc_now() + "\n").encode())
        return dest

    def move_champion(self, version: str, reason: str) -> dict[str, Any]:
        """Point `champion` at a committed version; the previous pointer is kept in the record."""
        if version not in self.versions():
            raise PublishError(
                f"cannot make {version} champion: it is not a committed version under {self.base}"
            )
        previous = self.champion()
        pointer = {
            "version": version,
            "previous": previous["version"] if previous else None,
            "moved_utc": utc_now(),
            "reason": reason,
        }
        if fs.is_remote(self.root):
            self._cas_remote(pointer, previous)
        else:
            base = fs.local_path(self.base)
            fs.write_json_atomic(base / CHAMPION, pointer)
            with (base / HISTORY).open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"pointer": "champion", **pointer}) + "\n")
        log.info("champion -> %s (was %s)", version, pointer["previous"])
        return pointer

    def _cas_remote(self, pointer: dict[str, Any], previous: dict[str, Any] | None) -> None:
        """Compare-and-swap on GCS: the write succeeds only if nobody moved the pointer since."""
        from google.api_core.exceptions import PreconditionFailed
        from google.cloud import storage

        bucket_name, _, prefix = self.base.removeprefix(fs.GCS_PREFIX).partition("/")
        bucket = storage.Client().bucket(bucket_name)
        path = f"{prefix}/{CHAMPION}"
        current = bucket.get_blob(path)
        generation = 0  # 0 = "must not exist yet"
        if current is not None:
            seen = json.loads(current.download_as_bytes(if_generation_match=current.generation))
            if previous is None or seen["version"] != previous["version"]:
                raise PublishError(
                    f"gs://{bucket_name}/{path} changed during this publish; rerun to compare again"
                )
            generation = current.generation
        blob = bucket.blob(path)
        try:
            blob.upload_from_string(
                json.dumps(pointer, indent=2, sort_keys=True),
                content_type="application/json",
                if_generation_match=generation,
            )
        except PreconditionFailed as err:
            raise PublishError(
                f"gs://{bucket_name}/{prefix}/{CHAMPION} was moved by another "
                "writer during this publish; rerun to compare again"
            ) from err
        history = bucket.blob(f"{prefix}/history/{pointer['moved_utc']}-{pointer['version']}.json")
        history.upload_from_string(
            json.dumps({"pointer": "champion", **pointer}), if_generation_match=0
        )
