"""The option tables in the READMEs are generated from the config models: stale or undescribed
options fail here (regenerate with `python scripts/config_docs.py`)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _module():
    spec = importlib.util.spec_from_file_location("config_docs", REPO / "scripts/config_docs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["config_docs"] = module
    spec.loader.exec_module(module)
    return module


docs = _module()


def test_every_section_has_a_readme_table() -> None:
    from components.common.config import SECTIONS

    assert set(docs.READMES) == set(SECTIONS)
    for section, path in docs.READMES.items():
        assert docs.BEGIN.format(section=section) in (REPO / path).read_text(), path


def test_tables_are_up_to_date() -> None:
    assert docs.stale() == [], "run python scripts/config_docs.py"


@pytest.mark.parametrize("section", sorted(docs.READMES))
def test_every_option_is_described(section: str) -> None:
    rows = docs.rows(docs.section_model(section))
    assert rows
    undescribed = [option for option, _, _, description in rows if not description]
    assert undescribed == [], f"{section}: give these fields a Field(description=...)"


def test_nested_and_union_options_are_flattened() -> None:
    rows = {
        option: (type_name, default)
        for option, type_name, default, _ in docs.rows(docs.section_model("abtest"))
    }
    assert rows["guardrails.max_error_rate"] == ("float", "`0.02`")
    assert rows["baseline_rate"][1] == "required"
    options = [option for option, *_ in docs.rows(docs.section_model("train"))]
    assert any(o.startswith("inputs[kind=text].encoder[kind=ngram_bag].") for o in options)


def test_render_replaces_only_between_markers_and_names_a_missing_one(tmp_path: Path) -> None:
    text = "# x\n\n<!-- options: deploy -->\nold\n<!-- /options -->\n\n## Code\n"
    out = docs.render(text, "deploy", "x/README.md")
    assert out.startswith("# x\n\n<!-- options: deploy -->\nGenerated from")
    assert out.endswith("<!-- /options -->\n\n## Code\n") and "old" not in out
    assert "| `deploy.rollout` |" in out
    with pytest.raises(docs.DocsError, match=r"x/README\.md: no '<!-- options: train -->'"):
        docs.render(text, "train", "x/README.md")


def test_a_stale_table_is_named(tmp_path: Path) -> None:
    for path in docs.READMES.values():
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text((REPO / path).read_text())
    stale_path = tmp_path / docs.READMES["deploy"]
    stale_path.write_text(stale_path.read_text().replace("| `deploy.rollout` |", "| `x` |"))
    assert docs.stale(tmp_path) == [docs.READMES["deploy"]]
