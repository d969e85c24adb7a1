"""The local runners' step cache and resume: a task's earlier result is reused when its component,
its parameters and its input artifacts' *content* are those of an earlier successful task (KFP's
caching, keyed on content rather than URIs), and a resumed run reuses its own finished tasks.

The key of a task is the SHA-256 of
- its component: the container as compiled (image reference, command and arguments before
  placeholders are filled, env) and its declared outputs, plus a digest of the code it runs: every
  file of the package its `python -m <module>` names (components/<name>/) and of the shared
  `common` package beside it (components/common/). A step imports no other step's module
  (the house contract), so that is all the repository code a step runs;
- its resolved input parameters; a string parameter that names an existing local file (a config,
  a local data file) adds that file's content digest, so editing the file in place is a miss;
- its input artifacts' content digests (every file's relative path and bytes) and metadata.

One narrow exclusion: the raw snapshot's manifest records when it was taken (`created_utc`) and
the end of the window the run was scheduled for (`window.end`); both change every run, the files
(with their sha256) and the window's dates are its content, so the digest leaves those two fields
out (VOLATILE_FIELDS). Ingest itself still runs every run (the schedule time is one of its
parameters); the tasks downstream of it hit when its snapshot holds the same data.

Entries live in `<runs dir>/.cache/<key>.json`, written atomically; a hit copies the artifacts
into the new run folder (hard links where the file system allows: artifacts are never modified
once their task finished), so every run folder stands on its own, and the entry is moved to the
new copy. A hit whose source artifacts are gone or changed is a miss. Tasks whose caching option
is off (KFP's `cachingOptions.enableCache`; in Argo, pipelines/argo/compile.py's CACHING_ANNOTATION)
always run and record nothing; `read=False` (`--no-cache`) runs every task and still records.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.common import fs
from components.common.artifacts import Raw
from components.common.times import stamp
from pipelines.local.results import Artifact, TaskResult

log = logging.getLogger(__name__)

CACHE_DIR = ".cache"  # under the runs dir
# JSON file name at an artifact's top level -> fields that record when it was written, not what
# it holds; left out of the artifact's content digest.
VOLATILE_FIELDS: dict[str, tuple[tuple[str, ...], ...]] = {
    Raw.MANIFEST: (("created_utc",), ("window", "end")),
}
KEY_VERSION = 1  # bumped when what goes into a key changes


@dataclass(frozen=True)
class Hit:
    """A cache entry that can be reused: where its artifacts are and what it produced."""

    key: str
    run: str
    task: str
    log: str | None
    parameters: dict[str, Any]
    artifacts: dict[str, dict[str, Any]]  # name -> uri, schema_title, metadata, digest


@dataclass
class StepCache:
    """The cache of one runs dir; `read=False` records results but never reuses them."""

    runs_dir: Path
    code_root: Path
    read: bool = True
    _digests: dict[str, str] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.runs_dir / CACHE_DIR

    # ---- keys --------------------------------------------------------------------------------
    def key(
        self,
        component: dict[str, Any],
        parameters: dict[str, Any],
        artifacts: dict[str, tuple[Path, dict[str, Any]]],
    ) -> str:
        """The key of a task: `component` as compiled (container and outputs), its resolved
        parameters and its input artifacts (name -> (path, metadata))."""
        files = {
            name: self.digest(Path(value))
            for name, value in sorted(parameters.items())
            if isinstance(value, str) and _is_file(value)
        }
        payload = {
            "version": KEY_VERSION,
            "component": component,
            "code": self.code_digest(strings(component)),
            "parameters": parameters,
            "parameter_files": files,
            "artifacts": {
                name: {"digest": self.digest(path), "metadata": metadata}
                for name, (path, metadata) in sorted(artifacts.items())
            },
        }
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def code_digest(self, argv: Iterable[str]) -> str:
        """The files of every package a `python -m <module>` in `argv` runs, and the shared
        `common` package beside it."""
        words = list(argv)
        roots: set[Path] = set()
        for flag, module in itertools.pairwise(words):
            if flag != "-m":
                continue
            parts = module.split(".")
            package = self.code_root.joinpath(*parts)
            if package.is_dir() or package.with_suffix(".py").is_file():
                roots.add(package if package.is_dir() else package.with_suffix(".py"))
                common = self.code_root / parts[0] / "common"
                if len(parts) > 1 and common.is_dir():
                    roots.add(common)
        entries = [
            f"{root.relative_to(self.code_root)}\0{self.digest(root, volatile=False)}"
            for root in sorted(roots)
        ]
        return hashlib.sha256("\n".join(entries).encode()).hexdigest()

    def digest(self, path: Path, volatile: bool = True) -> str:
        """The content digest of a file or folder: every file's path relative to it and its
        bytes (VOLATILE_FIELDS left out of the JSON files they name, when `volatile`)."""
        memo = f"{volatile}:{Path(path).resolve()}"
        if memo in self._digests:
            return self._digests[memo]
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such artifact to digest")
        if path.is_file():
            value = _file_digest(path, volatile)
        else:
            lines = []
            for item in sorted(path.rglob("*")):
                if item.is_dir() or "__pycache__" in item.parts:
                    continue
                top = volatile and item.parent == path
                lines.append(f"{item.relative_to(path).as_posix()}\0{_file_digest(item, top)}")
            value = hashlib.sha256("\n".join(lines).encode()).hexdigest()
        self._digests[memo] = value
        return value

    # ---- entries -----------------------------------------------------------------------------
    def _entry(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def lookup(self, key: str) -> Hit | None:
        """The entry of `key` whose artifacts are still there with the same content, or None."""
        if not self.read:
            return None
        path = self._entry(key)
        if not path.exists():
            return None
        try:
            entry = json.loads(path.read_text())
            hit = Hit(
                key,
                entry["run"],
                entry["task"],
                entry.get("log"),
                entry["parameters"],
                entry["artifacts"],
            )
        except (json.JSONDecodeError, KeyError) as err:
            log.warning("%s: unreadable cache entry (%s); running the task", path, err)
            return None
        for name, artifact in hit.artifacts.items():
            source = Path(artifact["uri"])
            if not source.exists() or self.digest(source) != artifact["digest"]:
                log.info("cache entry %s: artifact %s at %s is gone or changed", key, name, source)
                return None
        return hit

    def restore(self, hit: Hit, result: TaskResult, targets: dict[str, Path]) -> TaskResult:
        """`hit`'s artifacts copied (hard-linked) to `targets` (name -> path in this run) and its
        parameters, as `result` (status "cached")."""
        result.status = "cached"
        result.cached_from = hit.run
        result.parameters = dict(hit.parameters)
        for name, artifact in hit.artifacts.items():
            if name not in targets:
                continue
            target = targets[name]
            _link_copy(Path(artifact["uri"]), target)
            self._digests[f"True:{target.resolve()}"] = artifact["digest"]
            result.artifacts[name] = Artifact(
                name, str(target), artifact["schema_title"], dict(artifact["metadata"])
            )
        return result

    def store(self, key: str, run_dir: Path, result: TaskResult) -> None:
        """Record `result` (succeeded or cached) under `key`, pointing at its artifacts."""
        artifacts = {
            name: {
                "uri": str(Path(a.uri).resolve()),
                "schema_title": a.schema_title,
                "metadata": a.metadata,
                "digest": self.digest(Path(a.uri)),
            }
            for name, a in result.artifacts.items()
        }
        entry = {
            "key": key,
            "run": run_dir.name,
            "run_dir": str(run_dir.resolve()),
            "task": result.name,
            "log": str(Path(result.log).resolve()) if result.log else None,
            "created_utc": stamp(),
            "parameters": result.parameters,
            "artifacts": artifacts,
        }
        self.root.mkdir(parents=True, exist_ok=True)
        fs.write_json_atomic(self._entry(key), entry)


@dataclass
class Reuse:
    """What a runner consults before running a container task: the finished tasks of the run it
    resumes, then the step cache; and what it tells after a task succeeded."""

    cache: StepCache | None = None
    finished: dict[str, TaskResult] = field(default_factory=dict)

    def before(
        self,
        key: str,
        label: str,
        enabled: bool,
        run_dir: Path,
        component: dict[str, Any],
        parameters: dict[str, Any],
        artifacts: dict[str, tuple[Path, dict[str, Any]]],
        targets: dict[str, Path],
        log_path: Path,
    ) -> tuple[TaskResult | None, str | None]:
        """(a result to use instead of running, the cache key to record under after running)."""
        earlier = self.finished.get(key)
        if earlier is not None and all(Path(a.uri).exists() for a in earlier.artifacts.values()):
            print(f"{label}: done before the resume ({earlier.status})", flush=True)
            return earlier, None
        if self.cache is None or not enabled:
            return None, None
        cache_key = self.cache.key(component, parameters, artifacts)
        hit = self.cache.lookup(cache_key)
        if hit is None:
            return None, cache_key
        log_path.parent.mkdir(parents=True, exist_ok=True)
        note = f"# cached: the result of task '{hit.task}' of run {hit.run} (cache key {hit.key})\n"
        earlier_log = Path(hit.log) if hit.log else None
        body = (
            earlier_log.read_text(errors="replace") if earlier_log and earlier_log.exists() else ""
        )
        fs.write_text_atomic(log_path, note + body)
        result = self.cache.restore(hit, TaskResult(key, "cached", log=str(log_path)), targets)
        self.cache.store(cache_key, run_dir, result)  # the new copy becomes the entry
        print(f"{label}: cached (from run {hit.run})", flush=True)
        return result, None

    def after(self, cache_key: str | None, run_dir: Path, result: TaskResult) -> None:
        if cache_key is not None and self.cache is not None:
            self.cache.store(cache_key, run_dir, result)


def _is_file(value: str) -> bool:
    try:
        return len(value) < 4096 and Path(value).is_file()
    except (OSError, ValueError):
        return False


def _file_digest(path: Path, volatile: bool) -> str:
    fields = VOLATILE_FIELDS.get(path.name) if volatile else None
    if fields:
        try:
            document = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            document = None
        if isinstance(document, dict):
            for dotted in fields:
                _drop(document, dotted)
            text = json.dumps(document, sort_keys=True)
            return hashlib.sha256(text.encode()).hexdigest()
    return fs.sha256_file(path)


def _drop(document: dict[str, Any], dotted: tuple[str, ...]) -> None:
    node: Any = document
    for part in dotted[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(dotted[-1], None)


def _link_copy(source: Path, target: Path) -> None:
    """`source` at `target` (replaced), hard-linked file by file, copied across file systems."""

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_dir():
        shutil.rmtree(target)
    elif target.exists():
        target.unlink()
    if source.is_dir():
        shutil.copytree(source, target, copy_function=link)
    else:
        link(str(source), str(target))


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []
