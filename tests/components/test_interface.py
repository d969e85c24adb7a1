"""Each step's interface is declared once (component.py): the compiled container args, the IR's
parameter descriptions and the CLI parser all come from that one signature."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import docstring_parser
import pytest
import yaml

from components.common import interface
from tests.conftest import STEPS

ROOT = Path(__file__).resolve().parents[2]
_ARG = re.compile(
    r"\{\{\$\.(inputs|outputs)\.(artifacts|parameters)\['([^']+)'\](?:\.path|\.uri|\.output_file)?\}\}"
)


def _executors() -> dict[str, tuple[dict, dict]]:
    """module -> (container spec, component spec) from every compiled KFP pipeline."""
    found: dict[str, tuple[dict, dict]] = {}
    for path in sorted((ROOT / "manifests" / "kfp").glob("*.yaml")):
        spec = next(yaml.safe_load_all(path.read_text()))
        components = spec["components"]
        for comp in components.values():
            label = comp.get("executorLabel")
            if label:
                container = spec["deploymentSpec"]["executors"][label]["container"]
                found[container["command"][-1]] = (container, comp)
    return found


def _main(step: str):
    return importlib.import_module(f"components.{step}.main")


@pytest.mark.parametrize("step", STEPS)
def test_docstring_reading_matches_kfps(step: str) -> None:
    """The CLI's kfp-free docstring reader sees the same Args: entries as KFP's parser."""
    source = importlib.import_module(f"components.{step}.component")
    component = source.component("img")
    doc = component.pipeline_func.__wrapped__.__doc__
    summary, ours = interface.docstring_args(doc)
    theirs = {
        p.arg_name: " ".join(p.description.split()) for p in docstring_parser.parse(doc).params
    }
    assert ours == theirs
    assert summary


@pytest.mark.parametrize("step", STEPS)
def test_compiled_args_are_the_cli_flags(step: str) -> None:
    """The step's CLI accepts exactly the compiled container's args, each declared parameter is
    passed under its flag, and its IR description is the CLI's help."""
    module = f"components.{step}"
    container, comp = _executors()[module]
    declared = interface.read(module)
    args = [str(a) for a in container["args"]]
    passed: dict[str, str] = {}
    sample: list[str] = []
    for flag, value in zip(args[0::2], args[1::2], strict=True):
        match = _ARG.fullmatch(value)
        if match:
            passed[match.group(3)] = flag
            param = declared.param(match.group(3))
            numeric = param.type in (int, float)
            value = "3" if numeric else "" if param.name == "beam_options" else "v"
        sample += [flag, value]
    parsed = _main(step).parse_args(sample)
    namespace = parsed[0] if isinstance(parsed, tuple) else parsed
    if isinstance(parsed, tuple):
        assert parsed[1] == [], f"{module}: flags the CLI does not know: {parsed[1]}"
    for p in declared.params:
        assert passed.get(p.name) == f"--{p.flag}", f"{module}: {p.name} not passed as --{p.flag}"
        assert getattr(namespace, p.flag.replace("-", "_")) is not None
        where = "inputDefinitions" if p.kind != "output" else "outputDefinitions"
        section = comp[where]
        entry = {**section.get("artifacts", {}), **section.get("parameters", {})}[p.name]
        assert entry["description"] == p.help


@pytest.mark.parametrize("step", STEPS)
def test_cli_help_lists_every_declared_flag(step: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _main(step).parse_args(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: python -m components.{step}")
    for p in interface.read(f"components.{step}").params:
        assert f"--{p.flag}" in text


def test_cli_requires_what_the_pipeline_always_passes(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _main("evaluate").parse_args(["--model", "m", "--dataset", "d", "--config", "c"])
    assert exit_info.value.code == 2
    assert "--metrics" in capsys.readouterr().err


def test_a_parameter_without_docs_is_refused(tmp_path: Path, monkeypatch) -> None:
    pkg = tmp_path / "fakestep"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "component.py").write_text(
        "from components.common.kfp_step import step\n"
        "def component(image):\n"
        "    @step(image, 'fakestep')\n"
        "    def fake(config: str, days: int = 1):\n"
        '        """Summary.\n\n        Args:\n            config: the config\n        """\n'
        "    return fake\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(interface.InterfaceError, match=r"fake\(days\): no line for it under Args"):
        interface.read("fakestep")
