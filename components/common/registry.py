"""A model registry on a folder or bucket: immutable versions, `champion` and `challenger` pointers.

Layout under <root>/<model_name>/:
  versions/<version>/          one immutable version; visible only once `_COMMITTED` is in it
      model/1/saved_model.pb   TF Serving / KServe layout (storageUri = versions/<version>/model)
      metadata.json
  champion.json                the version serving now
  challenger.json              the version under A/B test against it, with its traffic split
  history.jsonl                every pointer move, with its reason (gs://: history/<time>-*.json)

Local roots publish a version by renaming a fully written staging folder (atomic on one file
system) and move a pointer under a file lock with os.replace. gs:// roots write the marker last and
move a pointer with a generation precondition. Either way a move is a compare-and-swap: it names the
version it expects to replace, so two writers can never both win.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from components.common import fs
from components.common.errors import ConflictError, PublishError
from components.common.times import stamp

log = logging.getLogger(__name__)

COMMITTED = "_COMMITTED"
HISTORY = "history.jsonl"
MODEL_SUBDIR = "model"
SERVING_VERSION = "1"
Pointer = Literal["champion", "challenger"]


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

    def pointer(self, name: Pointer) -> dict[str, Any] | None:
        """The `champion` or `challenger` pointer; None when it was never set or was cleared."""
        uri = fs.join(self.base, f"{name}.json")
        if not fs.exists(uri):
            return None
        pointer = fs.read_json(uri)
        if pointer.get("version") is None:
            return None
        if pointer["version"] not in self.versions():
            raise PublishError(
                f"{uri} points at version {pointer['version']} which is not "
                f"committed; the registry is inconsistent"
            )
        return dict(pointer)

    def champion(self) -> dict[str, Any] | None:
        return self.pointer("champion")

    def challenger(self) -> dict[str, Any] | None:
        """The version under A/B test against the champion, with its split (percent, experiment,
        salt); None when no experiment runs."""
        return self.pointer("challenger")

    def history(self) -> list[dict[str, Any]]:
        """Every pointer move, oldest first."""
        if fs.is_remote(self.root):
            uris = fs.match(fs.join(self.base, "history", "*.json"))
            return [fs.read_json(u) for u in sorted(uris)]
        path = fs.local_path(self.base) / HISTORY
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

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
            fs.write_text_atomic(staging / COMMITTED, stamp() + "\n")
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
            out.write((stamp() + "\n").encode())
        return dest

    def move_champion(self, version: str, reason: str) -> dict[str, Any]:
        """Point `champion` at a committed version; the previous pointer is kept in the record."""
        previous = self.champion()
        return self.move(
            "champion", version, reason, expect=previous["version"] if previous else None
        )

    def start_challenger(self, version: str, percent: float, reason: str) -> dict[str, Any]:
        """Put `version` under A/B test against the champion on `percent` of units, replacing
        any challenger under test now. The salt is the version, so each challenger reshuffles
        units independently of the last one."""
        champion, current = self.champion(), self.challenger()
        if champion is None:
            raise PublishError(f"{self.base} has no champion to test {version} against")
        return self.move(
            "challenger",
            version,
            reason + (f"; supersedes challenger {current['version']}" if current else ""),
            expect=current["version"] if current else None,
            percent=percent,
            experiment=self.model_name,
            salt=version,
            champion=champion["version"],
            started_utc=stamp(),
        )

    def move(
        self,
        name: Pointer,
        version: str | None,
        reason: str,
        expect: str | None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Compare-and-swap a pointer: set `name` to `version` (None clears it) only if it points
        at `expect` now; otherwise raise ConflictError and change nothing. `fields` are kept in
        the pointer (the challenger's split). Every move is appended to the history."""
        if version is not None and version not in self.versions():
            raise PublishError(
                f"cannot make {version} {name}: it is not a committed version under {self.base}"
            )
        pointer = {
            "version": version,
            "previous": expect,
            "moved_utc": stamp(),
            "reason": reason,
            **fields,
        }
        if fs.is_remote(self.root):
            self._cas_remote(name, pointer, expect)
        else:
            self._cas_local(name, pointer, expect)
        log.info("%s -> %s (was %s): %s", name, version, expect, reason)
        return pointer

    def _conflict(self, name: str, expect: str | None, seen: str | None) -> ConflictError:
        return ConflictError(
            f"{fs.join(self.base, name + '.json')} points at {seen}, expected {expect}: another "
            "writer moved it; read the registry again and rerun"
        )

    def _cas_local(self, name: str, pointer: dict[str, Any], expect: str | None) -> None:
        """Local CAS: an exclusive lock on the model's folder serialises writers, the pointer is
        replaced with os.replace (readers never see a half-written file)."""
        base = fs.local_path(self.base)
        base.mkdir(parents=True, exist_ok=True)
        with (base / ".pointers.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            current = self._read_local(base / f"{name}.json")
            if current != expect:
                raise self._conflict(name, expect, current)
            fs.write_json_atomic(base / f"{name}.json", pointer)
            with (base / HISTORY).open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"pointer": name, **pointer}, sort_keys=True) + "\n")

    @staticmethod
    def _read_local(path: Path) -> str | None:
        if not path.exists():
            return None
        version = json.loads(path.read_text()).get("version")
        return str(version) if version is not None else None

    def _cas_remote(self, name: str, pointer: dict[str, Any], expect: str | None) -> None:
        """Compare-and-swap on GCS: the write succeeds only if nobody moved the pointer since."""
        from google.api_core.exceptions import PreconditionFailed
        from google.cloud import storage

        bucket_name, _, prefix = self.base.removeprefix(fs.GCS_PREFIX).partition("/")
        bucket = storage.Client().bucket(bucket_name)
        path = f"{prefix}/{name}.json"
        current = bucket.get_blob(path)
        generation = 0  # 0 = "must not exist yet"
        seen = None
        if current is not None:
            seen = json.loads(current.download_as_bytes(if_generation_match=current.generation))
            seen = seen.get("version")
            generation = current.generation
        if seen != expect:
            raise self._conflict(name, expect, seen)
        blob = bucket.blob(path)
        try:
            blob.upload_from_string(
                json.dumps(pointer, indent=2, sort_keys=True),
                content_type="application/json",
                if_generation_match=generation,
            )
        except PreconditionFailed as err:
            raise self._conflict(name, expect, "a newer generation") from err
        history = bucket.blob(
            f"{prefix}/history/{pointer['moved_utc']}-{name}-{uuid.uuid4().hex[:8]}.json"
        )
        history.upload_from_string(
            json.dumps({"pointer": name, **pointer}, sort_keys=True), if_generation_match=0
        )
