"""A model registry on a folder or bucket: immutable versions, `champion` and `challenger` pointers.

Layout under <root>/<model_name>/:
  versions/<version>/          one immutable version; visible only once `_COMMITTED` is in it
      model/1/saved_model.pb   TF Serving / KServe layout (storageUri = versions/<version>/model)
      metadata.json
  champion.json                the version serving now
  challenger.json              the version under A/B test against it, with its traffic split
  history.jsonl                every pointer move, with its reason (gs://: history/<time>-*.json)
  rejected.json                every version an A/B test rolled back, with its model digest and
                               the readout's reasons; append-only

A version's metadata holds its `model_digest` (components/common/model_digest.py), computed once
at publish; for a version published before digests were kept it is computed from its files when
asked (not stored: versions are immutable). A candidate whose digest is the champion's, the
challenger's or a rejected version's is a pointless experiment (`twins`): evaluate does not
bless it and deploy refuses it.

Local roots publish a version by renaming a fully written staging folder (atomic on one file
system) and move a pointer under a file lock with os.replace. gs:// roots write the marker last and
move a pointer with a generation precondition (`if_generation_match`); rejected.json is rewritten
the same ways (under the lock; with a generation precondition, retried), only ever appended to.
Either way a move is a compare-and-swap against the whole pointer the caller read (each pointer
carries a `generation`, one more at every move): if anything moved it since, the move raises
ConflictError (retryable) and changes nothing, so two writers can never both win. Every name that
becomes a path (model, version) is a `safe_name`, every share a `check_percent`
(components/common/checks.py).
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
from types import EllipsisType
from typing import Any, Literal

from components.common import fs
from components.common.checks import check_percent, safe_name
from components.common.errors import ConfigError, ConflictError, PublishError
from components.common.model_digest import model_digest, short
from components.common.times import stamp, utc_now

log = logging.getLogger(__name__)

COMMITTED = "_COMMITTED"
HISTORY = "history.jsonl"
REJECTED = "rejected.json"
REJECT_ATTEMPTS = 5  # gs://: appends lost to a concurrent one are retried this many times
MODEL_SUBDIR = "model"
SERVING_VERSION = "1"
Pointer = Literal["champion", "challenger"]
POINTERS = ("champion", "challenger")
# The fields every move sets itself; the rest of a pointer (the challenger's split) is the caller's.
MOVE_FIELDS = ("version", "previous", "generation", "moved_utc", "reason")


def _pointer_name(name: str) -> str:
    if name not in POINTERS:
        raise ConfigError(f"pointer {name!r}: a registry has only the pointers {POINTERS}")
    return name


@dataclass(frozen=True)
class Registry:
    root: str
    model_name: str

    def __post_init__(self) -> None:
        safe_name(self.model_name, "model name")

    @property
    def base(self) -> str:
        return fs.join(self.root, self.model_name)

    def version_uri(self, version: str) -> str:
        return fs.join(self.base, "versions", safe_name(version, "version"))

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

    def pointer_uri(self, name: str) -> str:
        return fs.join(self.base, f"{_pointer_name(name)}.json")

    def read(self, name: Pointer) -> dict[str, Any] | None:
        """The stored `champion` or `challenger` document as it is, a cleared one included (its
        version None); None when it was never set. What a compare-and-swap expects."""
        uri = self.pointer_uri(name)
        if not fs.exists(uri):
            return None
        return self._parse(uri, fs.read_text(uri))

    @staticmethod
    def _parse(uri: str, text: str) -> dict[str, Any]:
        try:
            pointer = json.loads(text)
        except json.JSONDecodeError as err:
            raise PublishError(
                f"{uri}: not a JSON pointer ({err}); the registry is damaged"
            ) from None
        if not isinstance(pointer, dict) or "version" not in pointer:
            raise PublishError(f"{uri}: not a registry pointer (no 'version'); it is damaged")
        return pointer

    def pointer(self, name: Pointer) -> dict[str, Any] | None:
        """The `champion` or `challenger` pointer; None when it was never set or was cleared."""
        return self.live(name, self.read(name))

    def live(self, name: Pointer, pointer: dict[str, Any] | None) -> dict[str, Any] | None:
        """`pointer`, a document `read(name)` returned, if it names a version (None when it was
        never set or was cleared); PublishError if that version is not committed."""
        if pointer is None or pointer.get("version") is None:
            return None
        if pointer["version"] not in self.versions():
            raise PublishError(
                f"{self.pointer_uri(name)} points at version {pointer['version']} which is not "
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

    def metadata(self, version: str) -> dict[str, Any]:
        """The metadata.json of a committed version ({} when it has none)."""
        uri = fs.join(self.version_uri(version), "metadata.json")
        if not fs.exists(uri):
            return {}
        stored = fs.read_json(uri)
        if not isinstance(stored, dict):
            raise PublishError(f"{uri}: not a JSON object; the registry is damaged")
        return stored

    def model_digest(self, version: str) -> str:
        """What `version` computes (components/common/model_digest.py): the digest stored at
        publish, or, for a version published before digests were kept, computed from its files
        now (not stored: a version is immutable)."""
        stored = self.metadata(version).get("model_digest")
        if isinstance(stored, str) and stored:
            return stored
        log.info("version %s has no model_digest in its metadata: computed from its files", version)
        return model_digest(self.saved_model_uri(version))

    def rejections(self) -> list[dict[str, Any]]:
        """Every version an A/B test rolled back, oldest first: version, model_digest, reason,
        rolled_back_utc, champion (the version it lost to)."""
        uri = fs.join(self.base, REJECTED)
        if not fs.exists(uri):
            return []
        return self._parse_rejected(uri, fs.read_text(uri))

    @staticmethod
    def _parse_rejected(uri: str, text: str) -> list[dict[str, Any]]:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as err:
            raise PublishError(f"{uri}: not JSON ({err}); the registry is damaged") from None
        rejected = doc.get("rejected") if isinstance(doc, dict) else None
        if not isinstance(rejected, list) or not all(isinstance(r, dict) for r in rejected):
            raise PublishError(f"{uri}: expected {{'rejected': [...]}}; the registry is damaged")
        return rejected

    def twins(
        self,
        digest: str,
        champion: dict[str, Any] | EllipsisType | None = ...,
        challenger: dict[str, Any] | EllipsisType | None = ...,
    ) -> list[str]:
        """Why a model with `digest` is a pointless experiment, one sentence per version with
        the same content: the champion, the challenger under test, a version rolled back
        (`champion`, `challenger`: the live pointers as read by the caller; by default read
        now). Empty when the model is new to this registry."""
        found = []
        for name, doc in (("champion", champion), ("challenger", challenger)):
            pointer = self.pointer(name) if doc is ... else doc  # type: ignore[arg-type]
            if pointer and pointer.get("version"):
                version = pointer["version"]
                if self.model_digest(version) == digest:
                    under_test = " under A/B test now" if name == "challenger" else ""
                    found.append(
                        f"identical to the {name} {version}{under_test} "
                        f"(model digest {short(digest)}): nothing new to test"
                    )
        for rejected in self.rejections():
            if rejected.get("model_digest") == digest:
                found.append(
                    f"identical to {rejected.get('version')}, rolled back on "
                    f"{rejected.get('rolled_back_utc')}: {rejected.get('reason')} "
                    f"(model digest {short(digest)})"
                )
        return found

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
        uri = self.version_uri(version)  # checks the name
        if version in self.versions():
            if self._unused_same(version, metadata):
                log.info("version %s is published with this content, never used: kept", version)
                return uri  # the rerun of a deploy that lost a race finds its own publish
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
        # Leftovers of killed publishes: older than a day and not locked by a live one.
        fs.remove_stale(staging.parent, "*")
        with fs.locked_new_dir(staging):
            try:
                shutil.copytree(model_dir, staging / MODEL_SUBDIR / SERVING_VERSION)
                fs.write_json_atomic(staging / "metadata.json", metadata)
                for name, path in extras.items():
                    shutil.copy2(path, staging / name)
                fs.write_text_atomic(staging / COMMITTED, stamp() + "\n")
                final.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.rename(staging, final)  # atomic: the version appears whole or not at all
                except OSError as err:
                    if not final.exists():
                        raise
                    raise ConflictError(
                        f"{final}: another writer published version {version} at the same time"
                    ) from err
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        log.info("published %s", final)
        return str(final)

    def _unused_same(self, version: str, metadata: dict[str, Any]) -> bool:
        """Whether committed `version` holds the same content (`content_sha256`) as the
        `metadata` of a new publish and no pointer ever named it (a publish whose pointer move
        lost a race)."""
        digest = metadata.get("content_sha256")
        stored = fs.read_json(fs.join(self.version_uri(version), "metadata.json"))
        if not digest or stored.get("content_sha256") != digest:
            return False
        return all(h.get("version") != version for h in self.history())

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

    def reject(self, version: str, reason: str, champion: str | None = None) -> dict[str, Any]:
        """Remember that an A/B test rolled `version` back (against `champion`), with its model
        digest and `reason`, in rejected.json; append-only and idempotent: a version already
        recorded keeps its first record (a rerun of promote after a kill records nothing new).
        The record (new or the one already kept)."""
        safe_name(version, "version")
        if version not in self.versions():
            raise PublishError(
                f"cannot reject {version}: not a committed version under {self.base}"
            )
        record = {
            "version": version,
            "model_digest": self.model_digest(version),
            "reason": reason,
            "rolled_back_utc": stamp(),
            "champion": champion,
        }
        if fs.is_remote(self.root):
            kept = self._reject_remote(record)
        else:
            kept = self._reject_local(record)
        if kept is record:
            log.info("rejected %s (%s): %s", version, short(record["model_digest"]), reason)
        return kept

    @staticmethod
    def _append(rejected: list[dict[str, Any]], record: dict[str, Any]) -> dict[str, Any] | None:
        """The record already kept for the version, or None after appending `record`."""
        for kept in rejected:
            if kept.get("version") == record["version"]:
                return kept
        rejected.append(record)
        return None

    def _reject_local(self, record: dict[str, Any]) -> dict[str, Any]:
        base = fs.local_path(self.base)
        base.mkdir(parents=True, exist_ok=True)
        with (base / ".pointers.lock").open("a") as lock:  # the lock every pointer move takes
            fcntl.flock(lock, fcntl.LOCK_EX)
            path = base / REJECTED
            rejected = self._parse_rejected(str(path), path.read_text()) if path.exists() else []
            kept = self._append(rejected, record)
            if kept is not None:
                return kept
            fs.write_json_atomic(path, {"rejected": rejected})
        return record

    def _reject_remote(self, record: dict[str, Any]) -> dict[str, Any]:
        """Read rejected.json with its object generation, write it back appended with
        `if_generation_match` of that generation; an append lost to a concurrent one (412) is
        read again and retried."""
        from google.api_core.exceptions import NotFound, PreconditionFailed
        from google.cloud import storage

        bucket_name, _, prefix = self.base.removeprefix(fs.GCS_PREFIX).partition("/")
        blob_name = f"{prefix}/{REJECTED}"
        bucket = storage.Client().bucket(bucket_name)
        uri = fs.join(self.base, REJECTED)
        for _ in range(REJECT_ATTEMPTS):
            current = bucket.get_blob(blob_name)
            generation, rejected = 0, []
            if current is not None:
                try:
                    text = current.download_as_bytes(
                        if_generation_match=current.generation
                    ).decode()
                except (PreconditionFailed, NotFound):
                    continue  # rewritten between the two requests: read again
                generation, rejected = current.generation, self._parse_rejected(uri, text)
            kept = self._append(rejected, record)
            if kept is not None:
                return kept
            try:
                bucket.blob(blob_name).upload_from_string(
                    json.dumps({"rejected": rejected}, indent=2, sort_keys=True),
                    content_type="application/json",
                    if_generation_match=generation,
                )
            except PreconditionFailed:
                continue
            return record
        raise ConflictError(
            f"{uri}: other writers appended to it {REJECT_ATTEMPTS} times while this one tried; "
            "rerun to record the rejection"
        )

    def move_champion(
        self, version: str, reason: str, expect: dict[str, Any] | EllipsisType | None = ...
    ) -> dict[str, Any]:
        """Point `champion` at a committed version, if it is still `expect` (the document the
        caller read; by default read now); the previous version is kept in the record."""
        seen = self.read("champion") if expect is ... else expect
        return self.move("champion", version, reason, expect=seen)

    def start_challenger(
        self,
        version: str,
        percent: float,
        reason: str,
        expect: dict[str, Any] | EllipsisType | None = ...,
        champion: dict[str, Any] | EllipsisType | None = ...,
    ) -> dict[str, Any]:
        """Put `version` under A/B test against the champion on `percent` of units, replacing
        any challenger under test now, if the challenger is still `expect` (the document the
        caller read; by default read now) and, on a local root, the champion still `champion`.
        The salt is the version, so each challenger reshuffles units independently of the last
        one."""
        percent = check_percent(percent, "challenger percent")
        seen = self.read("challenger") if expect is ... else expect
        champion_doc = self.read("champion") if champion is ... else champion
        if not isinstance(champion_doc, dict) or champion_doc.get("version") is None:
            raise PublishError(f"{self.base} has no champion to test {version} against")
        current = seen if isinstance(seen, dict) and seen.get("version") is not None else None
        return self.move(
            "challenger",
            version,
            reason + (f"; supersedes challenger {current['version']}" if current else ""),
            expect=seen,
            also_expect={"champion": champion_doc},
            percent=percent,
            experiment=self.model_name,
            salt=version,
            champion=champion_doc["version"],
            started_utc=stamp(),
        )

    def move(
        self,
        name: Pointer,
        version: str | None,
        reason: str,
        expect: dict[str, Any] | None,
        also_expect: dict[Pointer, dict[str, Any] | None] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Compare-and-swap a pointer: set `name` to `version` (None clears it) only if the
        stored pointer is still `expect`, the whole document the caller read (`read()` or
        `pointer()`; None: no live pointer, never set or cleared); otherwise raise ConflictError
        (retryable) and change nothing. On a local root the pointers in `also_expect` are
        checked under the same lock (GCS has no transaction over two objects: they are checked
        just before). `fields` are kept in the pointer (the challenger's split; a `percent` is
        checked). Every move is appended to the history."""
        _pointer_name(name)
        if expect is not None and not isinstance(expect, dict):
            raise TypeError(f"expect must be the pointer document read, got {expect!r}")
        if version is not None:
            safe_name(version, "version")
            if version not in self.versions():
                raise PublishError(
                    f"cannot make {version} {name}: it is not a committed version under {self.base}"
                )
        if "percent" in fields:
            fields["percent"] = check_percent(fields["percent"], f"{name} percent")
        clash = sorted(set(fields) & set(MOVE_FIELDS))
        if clash:
            raise ValueError(f"fields {clash} are set by the move itself")
        pointer = {
            "version": version,
            "previous": expect.get("version") if expect else None,
            "generation": None,  # set under the lock: one more than the stored one
            "moved_utc": stamp(),
            "reason": reason,
            **fields,
        }
        if fs.is_remote(self.root):
            self._cas_remote(name, pointer, expect, also_expect or {})
        else:
            self._cas_local(name, pointer, expect, also_expect or {})
        log.info("%s -> %s (was %s): %s", name, version, pointer["previous"], reason)
        return pointer

    @staticmethod
    def _matches(current: dict[str, Any] | None, expect: dict[str, Any] | None) -> bool:
        """Whether the stored pointer is still the one the caller read: the whole document; for
        `expect` None, no live pointer (absent or cleared)."""
        if expect is None:
            return current is None or current.get("version") is None
        return current == expect

    def _conflict(
        self, name: str, expect: dict[str, Any] | None, seen: dict[str, Any] | None
    ) -> ConflictError:
        def show(doc: dict[str, Any] | None) -> str:
            if doc is None:
                return "nothing"
            return f"{doc.get('version')} (generation {doc.get('generation')})"

        return ConflictError(
            f"{self.pointer_uri(name)} is {show(seen)}, expected {show(expect)}: another writer "
            "moved it since it was read; nothing was changed, rerun to read the registry again"
        )

    def _next_generation(self, pointer: dict[str, Any], current: dict[str, Any] | None) -> None:
        pointer["generation"] = int((current or {}).get("generation") or 0) + 1

    def _cas_local(
        self,
        name: str,
        pointer: dict[str, Any],
        expect: dict[str, Any] | None,
        also: dict[Pointer, dict[str, Any] | None],
    ) -> None:
        """Local CAS: an exclusive lock on the model's folder serialises writers, the pointer is
        replaced with os.replace (readers never see a half-written file)."""
        base = fs.local_path(self.base)
        base.mkdir(parents=True, exist_ok=True)
        with (base / ".pointers.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            for other, doc in ((name, expect), *also.items()):
                path = base / f"{other}.json"
                current = self._parse(str(path), path.read_text()) if path.exists() else None
                if not self._matches(current, doc):
                    raise self._conflict(other, doc, current)
                if other == name:
                    self._next_generation(pointer, current)
            fs.write_json_atomic(base / f"{name}.json", pointer)
            with (base / HISTORY).open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"pointer": name, **pointer}, sort_keys=True) + "\n")

    def _cas_remote(
        self,
        name: str,
        pointer: dict[str, Any],
        expect: dict[str, Any] | None,
        also: dict[Pointer, dict[str, Any] | None],
    ) -> None:
        """Compare-and-swap on GCS: the stored pointer is read with its object generation and
        compared whole; the write carries `if_generation_match` of that generation, so it fails
        (412) if anyone wrote the object since, however close the race."""
        from google.api_core.exceptions import PreconditionFailed
        from google.cloud import storage

        bucket_name, _, prefix = self.base.removeprefix(fs.GCS_PREFIX).partition("/")
        bucket = storage.Client().bucket(bucket_name)
        for other, doc in also.items():
            blob = bucket.get_blob(f"{prefix}/{other}.json")
            seen = None
            if blob is not None:
                text = blob.download_as_bytes(if_generation_match=blob.generation).decode()
                seen = self._parse(self.pointer_uri(other), text)
            if not self._matches(seen, doc):
                raise self._conflict(other, doc, seen)
        path = f"{prefix}/{name}.json"
        current = bucket.get_blob(path)
        generation = 0  # 0 = "must not exist yet"
        seen = None
        if current is not None:
            try:
                text = current.download_as_bytes(if_generation_match=current.generation).decode()
            except PreconditionFailed as err:  # rewritten between the two requests
                raise self._conflict(name, expect, None) from err
            seen = self._parse(self.pointer_uri(name), text)
            generation = current.generation
        if not self._matches(seen, expect):
            raise self._conflict(name, expect, seen)
        self._next_generation(pointer, seen)
        blob = bucket.blob(path)
        try:
            blob.upload_from_string(
                json.dumps(pointer, indent=2, sort_keys=True),
                content_type="application/json",
                if_generation_match=generation,
            )
        except PreconditionFailed as err:
            raise ConflictError(
                f"{self.pointer_uri(name)}: another writer moved it at the same moment (object "
                f"generation {generation} is gone); nothing was changed, rerun to read the "
                "registry again"
            ) from err
        # Named to sort in the order of the moves: to the microsecond, then the generation.
        when = utc_now().strftime("%Y%m%dT%H%M%S.%fZ")
        history = bucket.blob(
            f"{prefix}/history/{when}-{name}-{pointer['generation']:09d}-"
            f"{uuid.uuid4().hex[:8]}.json"
        )
        history.upload_from_string(
            json.dumps({"pointer": name, **pointer}, sort_keys=True), if_generation_match=0
        )
