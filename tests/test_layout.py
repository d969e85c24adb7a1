"""The architecture as a test: a step imports only itself and components.common, and common imports
no step, so a change inside one step cannot break another (kubeflow/pipelines-components'
check_imports does the same in CI). Every import counts, also those inside functions."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import REPO

COMMON = "common"


def imported_modules(path: Path, root: Path = REPO) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in `path`, relative ones resolved."""
    package = ".".join(path.relative_to(root).parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            yield node.lineno, module
            # `from components import dataset` imports the step itself.
            if module == "components":
                for alias in node.names:
                    yield node.lineno, f"components.{alias.name}"


def step_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "components" else None


def violations(root: Path = REPO) -> list[str]:
    found = []
    for path in sorted((root / "components").rglob("*.py")):
        owner = path.relative_to(root / "components").parts[0]
        if owner.endswith(".py"):  # components/__init__.py
            continue
        for line, module in imported_modules(path, root):
            step = step_of(module)
            if step is None or step == owner:
                continue
            if step == COMMON:
                continue
            where = f"{path.relative_to(root)}:{line}"
            if owner == COMMON:
                found.append(f"{where}: components/common imports the step module {module}")
            else:
                found.append(
                    f"{where}: components/{owner} imports {module}; a step imports only "
                    f"components.{owner}.* and components.common.* (move what both need to "
                    "components/common/)"
                )
    return found


def test_steps_import_only_themselves_and_common() -> None:
    assert violations() == []


def test_the_check_sees_every_kind_of_import(tmp_path: Path) -> None:
    """The checker finds a top-level, a function-local and a relative import of another step."""
    sample = tmp_path / "components" / "serve" / "probe.py"
    sample.parent.mkdir(parents=True)
    (tmp_path / "components" / "common").mkdir()
    (tmp_path / "components" / "common" / "util.py").write_text("from components.serve import x\n")
    sample.write_text(
        "import components.readout.stats\n"
        "from ..promote import promote\n"
        "def f():\n"
        "    from components.deploy.config import DeployConfig\n"
        "    from components import train\n"
    )
    modules = [m for _, m in imported_modules(sample, tmp_path)]
    assert modules == [
        "components.readout.stats",
        "components.promote",
        "components.deploy.config",
        "components",
        "components.train",
    ]
    found = violations(tmp_path)
    assert len([v for v in found if "probe.py" in v]) == 4
    assert [v for v in found if "util.py" in v] == [
        "components/common/util.py:1: components/common imports the step module components.serve"
    ]
