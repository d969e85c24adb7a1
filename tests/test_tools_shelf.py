"""The tool shelf (scripts/tools.py): its list parses strictly, builds are cached by version, and a
version the module proxy does not serve fails naming the module and the proxy's answer."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPO


def shelf_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tools_shelf", REPO / "scripts" / "tools.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building the class
    spec.loader.exec_module(module)
    return module


shelf = shelf_module()


def test_the_committed_shelf_pins_every_tool() -> None:
    tools = shelf.read_shelf()
    assert tools, "tools/tools.txt lists no tool"
    for tool in tools:
        assert tool.version.startswith("v") and "@" not in tool.version
        if tool.wrapper is not None:  # our wrapper: small, and nothing fetched beside it
            files = [p for p in tool.wrapper.rglob("*") if p.is_file()]
            names = {"go.mod", "go.sum", "main.go", "tools.go", "README.md"}
            assert {p.name for p in files} <= names, files
            assert sum(p.stat().st_size for p in files if p.name != "go.sum") < 20_000


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("argo github.com/x/y ./cmd/argo", "must be module@vX.Y.Z"),
        ("argo github.com/x/y@latest ./cmd/argo", "must be module@vX.Y.Z"),
        ("Argo github.com/x/y@v1.0.0 .", "tool name 'Argo'"),
        ("argo github.com/x/y@v1.0.0", "expected 'name module@version package"),
        ("argo github.com/x/y@v1.0.0 . colour=red", "unknown option(s) ['colour']"),
        ("argo github.com/x/y@v1.0.0 . wrapper=tools/nowhere", "has no go.mod"),
        ("argo github.com/x/y@v1.0.0 . link=a.go:b.go", "need a wrapper="),
        (
            "argo github.com/argoproj/argo-workflows/v4@v4.0.7 . wrapper=tools/argo link=a.go",
            "PATH:TARGET",
        ),
        (
            "argo github.com/argoproj/argo-workflows/v4@v4.0.7 . wrapper=tools/argo empty=../up",
            "a path inside",
        ),
    ],
)
def test_a_malformed_line_names_its_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    listing = tmp_path / "tools.txt"
    listing.write_text(f"# comment\n\n{line}\n")
    with pytest.raises(shelf.ShelfError, match=r"tools\.txt:3: ") as error:
        shelf.read_shelf(listing)
    assert message in str(error.value)


def test_a_wrapper_must_require_the_version_of_its_line(tmp_path: Path) -> None:
    wrapper = tmp_path / "wrap"
    wrapper.mkdir()
    (wrapper / "go.mod").write_text("module wrap\n\ngo 1.26\n\nrequire github.com/x/y v1.0.0\n")
    listing = tmp_path / "tools.txt"
    listing.write_text(f"y github.com/x/y@v1.0.1 . wrapper={wrapper}\n")
    with pytest.raises(shelf.ShelfError, match=r"does not require github\.com/x/y v1\.0\.1"):
        shelf.read_shelf(listing)
    listing.write_text(f"y github.com/x/y@v1.0.0 . wrapper={wrapper}\n")
    (tool,) = shelf.read_shelf(listing)
    before = tool.key
    assert before.startswith("y-v1.0.0-w")
    (wrapper / "main.go").write_text("package main\n")
    assert tool.key != before, "editing the wrapper must change the cache key"


needs_go = pytest.mark.skipif(shutil.which("go") is None, reason="no Go toolchain")


@needs_go
@pytest.mark.tools
def test_builds_are_cached_and_a_provider_is_linked_into_the_mirror(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shelf, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(shelf, "MIRROR", tmp_path / "cache" / "provider-mirror")
    wrapper = tmp_path / "hello"
    wrapper.mkdir()
    (wrapper / "go.mod").write_text(
        "module hello\n\ngo 1.26\n\nrequire github.com/google/uuid v1.6.0\n"
    )
    (wrapper / "main.go").write_text(
        'package main\n\nimport (\n\t"fmt"\n\n\t"github.com/google/uuid"\n)\n\n'
        "func main() { fmt.Println(len(uuid.NewString())) }\n"
    )
    subprocess.run(["go", "mod", "tidy"], cwd=wrapper, check=True, capture_output=True)
    tool = shelf.Tool(
        "hello", "github.com/google/uuid", "v1.6.0", ".", wrapper, "example.org/acme/hello@1.0.0"
    )
    first = shelf.build(tool)
    assert first is not None and tool.binary.is_file()
    assert shelf.build(tool) is None, "a second build of the same version must be the cache"
    ran = subprocess.run([str(tool.binary)], capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == "36"
    linked = shelf.provider_path(tool)
    assert linked.name == "terraform-provider-hello_v1.0.0"
    assert linked.parent.parent.parent == shelf.MIRROR / "example.org/acme/hello"
    assert linked.resolve() == tool.binary.resolve()
    assert not list(shelf.CACHE.glob(".hello-*.*")), "a staging folder was left behind"


@needs_go
@pytest.mark.tools
def test_an_unserved_version_names_the_module_and_the_proxy_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shelf, "CACHE", tmp_path / "cache")
    tool = shelf.Tool("nope", "github.com/google/uuid", "v0.0.99", "./cmd/nope", None, None)
    with pytest.raises(shelf.ShelfError) as error:
        shelf.build(tool)
    message = str(error.value)
    assert "github.com/google/uuid@v0.0.99" in message
    assert "v0.0.99" in message.split("\n", 1)[1], message  # the go/proxy answer itself
    assert not tool.binary.exists()
    assert not list((tmp_path / "cache").glob(".nope-*")), "a staging folder was left behind"


def test_a_group_is_built_only_when_asked_for() -> None:
    """`make tools` (no names) builds the tools in no group; the cluster's only with --group."""
    tools = shelf.read_shelf()
    default = {t.name for t in shelf.select(tools, [])}
    cluster = {t.name for t in shelf.select(tools, [], "cluster")}
    assert "argo" in default and "kube-apiserver" not in default
    assert {"etcd", "kube-apiserver", "kubelet", "cri-dockerd", "argoexec", "argo-cli"} <= cluster
    assert not default & cluster
    assert [t.name for t in shelf.select(tools, ["kubelet"])] == ["kubelet"]
    with pytest.raises(shelf.ShelfError, match="no tool is in group 'nope'"):
        shelf.select(tools, [], "nope")


def test_kubernetes_binaries_are_stamped_with_their_version() -> None:
    (apiserver,) = shelf.select(shelf.read_shelf(), ["kube-apiserver"])
    assert "-X k8s.io/component-base/version.gitVersion=v1.34.12" in apiserver.ldflags
    assert "-X k8s.io/component-base/version.gitMinor=34" in apiserver.ldflags
    (argo,) = shelf.select(shelf.read_shelf(), ["argo"])
    assert argo.ldflags == "-s -w"
    (cli,) = shelf.select(shelf.read_shelf(), ["argo-cli"])
    assert cli.binary.name == "argo" and cli.binary.parent.name.startswith("argo-cli-v4.0.7-w")


@needs_go
@pytest.mark.tools
def test_a_module_copy_gets_back_what_its_zip_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Symlinks and build placeholders restored in a copy outside the clone; the module cache
    itself is untouched."""
    monkeypatch.setattr(shelf, "SOURCES", tmp_path / "src")
    tool = shelf.Tool(
        "hello", "github.com/google/uuid", "v1.6.0", ".", tmp_path, None,
        links=(("linked.go", "uuid.go"), ("dist/app/index.html", "")),
    )  # fmt: skip
    copied = shelf.linked_source(tool)
    root = shelf.SOURCES / copied.source
    assert (root / "linked.go").is_symlink() and (root / "linked.go").read_text().startswith("//")
    assert (root / "dist" / "app" / "index.html").read_bytes() == b""
    assert shelf.linked_source(tool).source == copied.source  # made once
    assert not list(shelf.SOURCES.glob(".*")), "a staging folder was left behind"


def test_the_cluster_script_names_every_missing_tool_once(tmp_path: Path) -> None:
    """scripts/cluster.sh finds the shelf's binaries in its own shell: with none built it stops
    with one line naming them and the command that builds them, not a trail of errors."""
    env = dict(os.environ, RETRAIN_TOOLS_CACHE=str(tmp_path / "empty"))
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "cluster.sh"), "env"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 1, done
    assert done.stdout == "", done.stdout  # nothing for `eval` to run
    assert done.stderr.splitlines() == [
        "cluster: not built: argo-cli kubectl; run `make cluster-tools`"
        " (tools/tools.txt, group cluster)"
    ], done.stderr
