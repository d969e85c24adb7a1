"""The tool shelf: the engines' own command-line tools, built from the Go module proxy.

`tools/tools.txt` lists each tool once (name, module@version, package, wrapper). A build lands in
a cache outside the clone, keyed by name and version (plus a digest of our wrapper files when a
wrapper is used), so the second `make tools` on a machine takes seconds:

    ~/.cache/retrain-pipelines/tools/<name>-<version>[-w<digest>]/<name>

Nothing fetched is written into the repository: Go keeps modules in its own cache (GOMODCACHE),
and a wrapper (tools/<dir>/: go.mod, go.sum, a few lines of Go) is ours.

    python scripts/tools.py build [NAME ...]   build what is missing (the tools in no group)
    python scripts/tools.py build --group G    build group G's tools (`cluster`: make cluster-tools)
    python scripts/tools.py path NAME          print the binary's path (exit 1 if not built)
    python scripts/tools.py list               what the shelf holds and what is built
    python scripts/tools.py mirror             print the OpenTofu provider mirror folder

A line with `source=DIR` names a module the proxy does not serve (it answers 403): the build then
needs that module's source at ~/.cache/retrain-pipelines/src/DIR, outside the clone, and points Go
at it with a generated workspace file. Without it the tool is reported as unavailable, the build
goes on with the others, and the tests that need the tool skip saying why.

A line with `provider=HOST/NAMESPACE/TYPE@VERSION` is a Terraform provider: after its build the
binary is linked into a filesystem mirror (the layout `tofu init -plugin-dir` and a
`provider_installation { filesystem_mirror }` block read), so `init` needs no registry.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHELF = REPO / "tools" / "tools.txt"
CACHE = Path(
    os.environ.get("RETRAIN_TOOLS_CACHE", Path.home() / ".cache" / "retrain-pipelines" / "tools")
)
MIRROR = CACHE / "provider-mirror"
SOURCES = CACHE.parent / "src"
UNAVAILABLE = 3  # exit code of `path` for a tool that cannot be built on this machine
NAME = re.compile(r"^[a-z][a-z0-9-]*$")


# Version stamps a module's own release build sets (-X), so its binaries report their version:
# Kubernetes' hack/lib/version.sh sets these, and a kubelet or API server without them reports
# v0.0.0-master, which clients that compare versions misread.
VERSION_STAMPS = {
    "k8s.io/kubernetes": (
        "k8s.io/component-base/version.gitVersion={version}",
        "k8s.io/component-base/version.gitMajor={major}",
        "k8s.io/component-base/version.gitMinor={minor}",
        "k8s.io/component-base/version.gitTreeState=clean",
        "k8s.io/client-go/pkg/version.gitVersion={version}",
        "k8s.io/client-go/pkg/version.gitMajor={major}",
        "k8s.io/client-go/pkg/version.gitMinor={minor}",
        "k8s.io/client-go/pkg/version.gitTreeState=clean",
    ),
}


class ShelfError(Exception):
    """The shelf file is malformed, or a tool cannot be built; the message says which and why."""


@dataclass(frozen=True)
class Tool:
    name: str
    module: str
    version: str
    package: str  # relative to the module ("." or "./cmd/argo"), or to the wrapper
    wrapper: Path | None  # tools/<dir> holding our go.mod, when the module needs one
    provider: str | None  # HOST/NAMESPACE/TYPE@VERSION for a Terraform provider
    source: str | None = None  # folder under SOURCES holding a module the proxy does not serve
    group: str | None = None  # built only when asked for by group (`build --group NAME`) or name
    # What the module's zip lacks that its repository's build has, restored in a copy of the
    # module outside the clone: symlinks (the proxy serves none) as (path, target), and the
    # empty files its Makefile writes when it builds without generated assets, as (path, "").
    links: tuple[tuple[str, str], ...] = ()
    command: str | None = None  # the binary's name, when it is not the tool's

    @property
    def key(self) -> str:
        key = f"{self.name}-{self.version}"
        key = f"{key}-w{wrapper_digest(self.wrapper)}" if self.wrapper else key
        if self.module in VERSION_STAMPS:  # another stamp, another build
            key += "-l" + hashlib.sha256(self.ldflags.encode()).hexdigest()[:6]
        return key

    @property
    def ldflags(self) -> str:
        major, minor = self.version.removeprefix("v").split(".")[:2]
        stamps = [
            "-X " + stamp.format(version=self.version, major=major, minor=minor)
            for stamp in VERSION_STAMPS.get(self.module, ())
        ]
        return " ".join(["-s -w", *stamps])

    @property
    def binary(self) -> Path:
        return CACHE / self.key / (self.command or self.name)


def shown(path: Path) -> str:
    return str(path.relative_to(REPO) if path.is_relative_to(REPO) else path)


def wrapper_digest(folder: Path) -> str:
    """A digest of our wrapper's files (not its README): editing the wrapper rebuilds the tool."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix != ".md"):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:10]


def read_shelf(path: Path = SHELF) -> list[Tool]:
    """Parse tools.txt: `name module@version package [wrapper=DIR] [provider=ADDR@VER]
    [source=DIR] [group=NAME]`."""
    tools: list[Tool] = []
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{shown(path)}:{number}"
        fields = line.split()
        if len(fields) < 3:
            raise ShelfError(f"{where}: expected 'name module@version package [key=value ...]'")
        name, pinned, package, *options = fields
        if not NAME.match(name):
            raise ShelfError(f"{where}: tool name {name!r} must match {NAME.pattern}")
        module, at, version = pinned.partition("@")
        if not at or not version.startswith("v"):
            raise ShelfError(f"{where}: {pinned!r} must be module@vX.Y.Z (a pinned version)")
        extra = dict(option.partition("=")[::2] for option in options)
        unknown = set(extra) - {"wrapper", "provider", "source", "group", "link", "empty", "binary"}
        if unknown:
            raise ShelfError(f"{where}: unknown option(s) {sorted(unknown)}")
        wrapper = REPO / extra["wrapper"] if "wrapper" in extra else None
        if wrapper is not None:
            check_wrapper(wrapper, module, version, where)
        if {"source", "link", "empty"} & set(extra) and wrapper is None:
            raise ShelfError(f"{where}: source=, link= and empty= need a wrapper= (for a go.work)")
        links = []
        for item in filter(None, extra.get("link", "").split(",")):
            link, colon, target = item.partition(":")
            if not colon or not link or not target or ".." in Path(link).parts:
                raise ShelfError(f"{where}: link={item!r}: expected PATH:TARGET inside the module")
            links.append((link, target))
        for item in filter(None, extra.get("empty", "").split(",")):
            if ".." in Path(item).parts:
                raise ShelfError(f"{where}: empty={item!r}: expected a path inside the module")
            links.append((item, ""))
        tools.append(
            Tool(
                name,
                module,
                version,
                package,
                wrapper,
                extra.get("provider"),
                extra.get("source"),
                extra.get("group"),
                tuple(links),
                extra.get("binary"),
            )
        )
    names = [tool.name for tool in tools]
    if len(names) != len(set(names)):
        raise ShelfError(f"{path}: a tool name is listed twice: {names}")
    return tools


def check_wrapper(folder: Path, module: str, version: str, where: str) -> None:
    """The wrapper's go.mod must require exactly the module@version the shelf names."""
    gomod = folder / "go.mod"
    if not gomod.is_file():
        raise ShelfError(f"{where}: wrapper {folder} has no go.mod")
    text = gomod.read_text()
    if not re.search(rf"(?m)^\s*(require\s+)?{re.escape(module)}\s+{re.escape(version)}\b", text):
        raise ShelfError(
            f"{where}: {shown(gomod)} does not require {module} {version}; "
            "keep the shelf line and the wrapper's go.mod on the same version"
        )


@contextlib.contextmanager
def locked(tool: Tool) -> Iterator[None]:
    """One build of a tool at a time on this machine (two `make tools` may race)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f".{tool.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def go_env() -> dict[str, str]:
    env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-buildvcs=false -trimpath")
    env.setdefault("GOTOOLCHAIN", "local")
    return env


def proxy_answer(stderr: str) -> str:
    """The lines of go's output that say what the module proxy answered, or the last lines."""
    lines = [
        line.strip()
        for line in stderr.splitlines()
        if line.strip()
        and not line.startswith(("go: downloading", "go: finding", "go: extracting"))
    ]
    said = [line for line in lines if "server response" in line or "reading http" in line]
    return "\n  ".join((said or lines[-6:]) or ["(no output)"])


class Unavailable(ShelfError):
    """The module proxy does not serve the tool's module and its source is not at hand."""


def unavailable(tool: Tool) -> str | None:
    """Why the tool cannot be built here, or None."""
    if tool.source is None or (SOURCES / tool.source / "go.mod").is_file():
        return None
    return (
        f"{tool.name}: the Go module proxy does not serve {tool.module}@{tool.version} (403 "
        f"'This module version is not available'), and its source is not at "
        f"{SOURCES / tool.source}; see {shown(tool.wrapper or REPO)}/README.md"
    )


def workspace(tool: Tool, folder: Path) -> Path:
    """A go.work that points the proxy-refused modules at their local source (outside the clone):
    every module the wrapper requires under the tool's module path, found below the source."""
    assert tool.wrapper is not None and tool.source is not None
    root = SOURCES / tool.source
    required = re.findall(
        rf"(?m)^\s*(?:require\s+)?({re.escape(tool.module)}(?:/[\w./-]+)?)\s+v\S+",
        (tool.wrapper / "go.mod").read_text(),
    )
    replaces = []
    for module in sorted(set(required)):
        local = root / module.removeprefix(tool.module).lstrip("/")
        if (local / "go.mod").is_file():
            replaces.append(f"\t{module} => {local}")
    work = folder / "go.work"
    work.write_text(f"go 1.26\n\nuse {tool.wrapper}\n\nreplace (\n" + "\n".join(replaces) + "\n)\n")
    return work


def linked_source(tool: Tool) -> Tool:
    """The tool, building from a copy of its module (outside the clone, under SOURCES) with the
    repository's symlinks and build placeholders restored that the module zip leaves out: Argo's
    signal_linux.go is a symlink to signal_darwin.go (argoexec does not build on Linux without
    it), and cmd/argo embeds ui/dist/app, which Argo's Makefile, without STATIC_FILES, creates
    as an empty index.html."""
    if not tool.links:
        return tool
    name = (
        f"{tool.module.replace('/', '+')}@{tool.version}-links-"
        + hashlib.sha256(repr(tool.links).encode()).hexdigest()[:8]
    )
    root = SOURCES / name
    if not (root / "go.mod").is_file():
        pinned = f"{tool.module}@{tool.version}"
        done = subprocess.run(
            ["go", "mod", "download", "-json", pinned], env=go_env(), capture_output=True, text=True
        )
        if done.returncode != 0:
            raise ShelfError(f"tools: {tool.name}: go mod download {pinned}:\n  {done.stdout}")
        SOURCES.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=SOURCES))
        try:
            copy = staging / "module"
            shutil.copytree(json.loads(done.stdout)["Dir"], copy, symlinks=True)
            for folder in [copy, *(p for p in copy.rglob("*") if p.is_dir())]:
                folder.chmod(0o755)  # the module cache is read-only
            for link, target in tool.links:
                (copy / link).parent.mkdir(parents=True, exist_ok=True)
                if target:
                    (copy / link).symlink_to(target)
                else:
                    (copy / link).touch()
            copy.rename(root)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return dataclasses.replace(tool, source=name)


def build(tool: Tool) -> float | None:
    """Build one tool into its cache folder; returns the seconds it took, None when cached."""
    with locked(tool):
        if tool.binary.is_file():
            link_provider(tool)
            return None
        reason = unavailable(tool)
        if reason is not None:
            raise Unavailable(reason)
        start = time.monotonic()
        tool = linked_source(tool)
        staging = Path(tempfile.mkdtemp(prefix=f".{tool.key}.", dir=CACHE))
        try:
            out = staging / (tool.command or tool.name)
            ldflags = [f"-ldflags={tool.ldflags}"]
            if tool.wrapper is not None:
                command = ["go", "build", *ldflags, "-o", str(out), tool.package]
                cwd: Path | None = tool.wrapper
            else:
                package = tool.module + tool.package.removeprefix(".")
                command = ["go", "install", *ldflags, f"{package}@{tool.version}"]
                cwd = None
            env = go_env()
            if tool.wrapper is None:
                env["GOBIN"] = str(staging)
            if tool.source is not None:
                env["GOWORK"] = str(workspace(tool, staging))
            print(f"tools: building {tool.name} ({tool.module}@{tool.version}) ...", flush=True)
            done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise ShelfError(
                    f"tools: {tool.name}: {' '.join(command)} failed for module "
                    f"{tool.module}@{tool.version}:\n  {proxy_answer(done.stderr)}"
                )
            if tool.wrapper is None:
                built = staging / Path(tool.package).name if tool.package != "." else None
                built = built if built and built.is_file() else next(staging.iterdir())
                if built != out:
                    built.rename(out)
            staging.rename(CACHE / tool.key)  # atomic: a killed build leaves only a staging dir
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        link_provider(tool)
        return time.monotonic() - start


def provider_path(tool: Tool) -> Path | None:
    """Where the filesystem mirror keeps a provider binary (the unpacked layout)."""
    if tool.provider is None:
        return None
    address, _, version = tool.provider.partition("@")
    kind = address.rsplit("/", 1)[-1]
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    folder = MIRROR / address / version / f"linux_{arch}"
    return folder / f"terraform-provider-{kind}_v{version}"


def link_provider(tool: Tool) -> None:
    target = provider_path(tool)
    if target is None:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or target.exists():
        if target.resolve() == tool.binary.resolve():
            return
        target.unlink()
    target.symlink_to(tool.binary)


def select(tools: list[Tool], names: list[str], group: str | None = None) -> list[Tool]:
    """The named tools; else the tools of `group`; else the tools in no group."""
    known = {tool.name: tool for tool in tools}
    missing = [name for name in names if name not in known]
    if missing:
        raise ShelfError(f"tools: unknown tool(s) {missing}; {SHELF.name} lists {sorted(known)}")
    if names:
        return [known[name] for name in names]
    chosen = [tool for tool in tools if tool.group == group]
    if not chosen:
        groups = sorted({tool.group for tool in tools if tool.group})
        raise ShelfError(f"tools: no tool is in group {group!r}; {SHELF.name} has groups {groups}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    builder = sub.add_parser("build", help="build what is missing")
    builder.add_argument("names", nargs="*")
    builder.add_argument("--group", help="build this group's tools (default: those in no group)")
    sub.add_parser("path", help="print a built tool's path").add_argument("name")
    sub.add_parser("list", help="what the shelf holds")
    sub.add_parser("mirror", help="print the provider mirror folder")
    args = parser.parse_args(argv)
    try:
        tools = read_shelf()
        if args.command == "build":
            if shutil.which("go") is None:
                raise ShelfError("tools: no `go` on PATH; install Go 1.26 (see README)")
            total = time.monotonic()
            for tool in select(tools, args.names, args.group):
                try:
                    took = build(tool)
                except Unavailable as why:
                    print(f"tools: skipped {why}", flush=True)
                    continue
                state = "cached" if took is None else f"built in {took:.0f} s"
                print(f"tools: {tool.name:<22} {tool.version:<40} {state}", flush=True)
            print(f"tools: done in {time.monotonic() - total:.0f} s; cache {CACHE}")
        elif args.command == "path":
            (tool,) = select(tools, [args.name])
            if not tool.binary.is_file():
                reason = unavailable(tool)
                if reason is not None:
                    print(f"tools: unavailable here: {reason}", file=sys.stderr)
                    return UNAVAILABLE
                print(f"tools: {tool.name} is not built; run `make tools`", file=sys.stderr)
                return 1
            print(tool.binary)
        elif args.command == "list":
            for tool in tools:
                state = "built" if tool.binary.is_file() else "missing"
                state = "unavailable (proxy refuses it)" if unavailable(tool) else state
                group = f"  [group {tool.group}]" if tool.group else ""
                print(f"{tool.name:<22} {tool.module}@{tool.version}  {state}{group}")
        else:
            print(MIRROR)
    except ShelfError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
