"""pipelines/ knows the steps only by their interfaces: a module under pipelines/ may import
`components.common.*` and `components.<step>.component`, nothing else of components/."""

from __future__ import annotations

import ast

from tests.conftest import REPO

PIPELINES = REPO / "pipelines"


def allowed(module: str) -> bool:
    parts = module.split(".")
    if parts[0] != "components" or len(parts) == 1:
        return parts[0] != "components"  # `import components` alone reaches everything
    return parts[1] == "common" or (len(parts) == 3 and parts[2] == "component")


def imported(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every import, `from components.x import component` as the module
    `components.x.component` (what it names may be a module or a name in the package)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] == "components" and len(parts) == 2 and parts[1] != "common":
                out += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
            else:
                out.append((node.lineno, node.module))
    return out


def test_the_rule_reads_imports_as_meant() -> None:
    tree = ast.parse(
        "from components.common.images import image\n"
        "from components.train import component as train_c\n"
        "import components.deploy.component\n"
        "from components.deploy.config import DeployConfig\n"
        "from components.record import record\n"
        "import components.serve.replay\n"
    )
    verdicts = [allowed(m) for _, m in imported(tree)]
    assert verdicts == [True, True, True, False, False, False]


def test_pipelines_import_only_component_interfaces_and_common() -> None:
    files = sorted(PIPELINES.rglob("*.py"))
    assert files, f"no Python files under {PIPELINES}"
    wrong = [
        f"{path.relative_to(REPO)}:{line}: {module}"
        for path in files
        for line, module in imported(ast.parse(path.read_text(), str(path)))
        if not allowed(module)
    ]
    assert wrong == [], (
        "pipelines/ may import components.common.* and components.<step>.component only; "
        "move what these need into components/common/:\n" + "\n".join(wrong)
    )
