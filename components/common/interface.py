"""A step's CLI derived from its KFP signature, read from `component.py` without importing kfp.

`component.py` declares each step's inputs, outputs and parameters once, with a docstring line
per parameter (`components.common.kfp_step.step`). The step images do not install kfp, so the
CLI reads that declaration with `ast`: the same names (as `--flags`), types, defaults and help.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib.util
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

EXECUTOR_INPUT_FLAG = "executor-input"
EXECUTOR_INPUT_HELP = (
    "KFP executor input JSON (the {{$}} placeholder): artifact metadata and output parameters "
    "are recorded for the KFP UI"
)

# A Beam step (one with a `beam_options` parameter) also takes the image its remote workers run:
# the step's own, passed by the compiled pipeline (components.common.beam_options).
BEAM_OPTIONS = "beam_options"
BEAM_WORKER_IMAGE_FLAG = "beam-worker-image"
BEAM_WORKER_IMAGE_HELP = (
    "the image Beam's workers run on a remote runner (Dataflow, Flink, Spark), passed as "
    "--sdk_container_image; the compiled pipeline passes the step's own image"
)

Kind = Literal["input", "output", "parameter"]
_TYPES: dict[str, type] = {"str": str, "int": int, "float": float, "bool": bool}
_REQUIRED = object()


class InterfaceError(Exception):
    """A component.py that the CLI cannot read: a bug in the step's declaration."""


@dataclasses.dataclass(frozen=True)
class Param:
    name: str
    flag: str
    kind: Kind  # input artifact, output artifact or output parameter file, plain parameter
    type: Callable[[str], Any]  # str, int, float, bool, or an output location
    default: Any  # _REQUIRED when the signature gives none
    help: str

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


@dataclasses.dataclass(frozen=True)
class Interface:
    module: str
    function: str
    description: str
    params: tuple[Param, ...]
    executor_input: bool
    cli_defaults: dict[str, Any]
    extra_flags: tuple[str, ...]

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)


def flag_name(name: str) -> str:
    return name.replace("_", "-")


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def docstring_args(doc: str) -> tuple[str, dict[str, str]]:
    """The summary and the `Args:` entries of a Google-style docstring (continuation lines
    joined), as KFP's docstring_parser reads them."""
    summary: list[str] = []
    args: dict[str, list[str]] = {}
    current: str | None = None
    in_args = False
    indent: int | None = None
    for line in doc.expandtabs().splitlines():
        stripped = line.strip()
        if stripped in ("Args:", "Arguments:", "Parameters:"):
            in_args, current = True, None
            continue
        if not in_args:
            summary.append(stripped)
            continue
        if not stripped:
            continue
        depth = len(line) - len(line.lstrip())
        entry = re.match(r"^(\w+)(?:\s*\([^)]*\))?:\s*(.*)$", stripped)
        if entry and (indent is None or depth <= indent):
            indent = depth
            current = entry.group(1)
            args[current] = [entry.group(2)]
        elif current is not None:
            args[current].append(stripped)
    text = " ".join(s for s in summary if s).strip()
    return text, {k: " ".join(v).strip() for k, v in args.items()}


def location(text: str) -> Any:
    """An output's location as given: a Path, or a URI kept whole (gs://bucket/...), which a
    Path would fold to gs:/bucket/... (the Beam steps write their outputs there directly)."""
    return text if "://" in text else Path(text)


def _kind(annotation: ast.expr | None, where: str) -> tuple[Kind, Callable[[str], Any]]:
    if annotation is None:
        raise InterfaceError(f"{where}: every parameter needs a type annotation")
    text = ast.unparse(annotation)
    if re.fullmatch(r"(dsl\.)?Input\[.+\]", text):
        return "input", str
    if re.fullmatch(r"(dsl\.)?(Output\[.+\]|OutputPath\(.*\))", text):
        return "output", location
    if text in _TYPES:
        return "parameter", _TYPES[text]
    raise InterfaceError(
        f"{where}: unsupported annotation {text!r} (str, int, float, bool, "
        f"dsl.Input[...], dsl.Output[...], dsl.OutputPath(...))"
    )


def _literal(node: ast.expr, where: str) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError as err:
        raise InterfaceError(f"{where}: expected a literal, got {ast.unparse(node)!r}") from err


def _step_decorator(func: ast.FunctionDef) -> ast.Call | None:
    for deco in func.decorator_list:
        if isinstance(deco, ast.Call) and ast.unparse(deco.func).split(".")[-1] == "step":
            return deco
    return None


def read(module: str) -> Interface:
    """The interface `components/<x>/component.py` declares for the step run as `module`."""
    package = module if module.endswith(".component") else f"{module}.component"
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise InterfaceError(f"{package}: no such module")
    path = Path(spec.origin)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = [
        (node, deco)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and (deco := _step_decorator(node)) is not None
    ]
    if len(found) != 1:
        raise InterfaceError(f"{path}: expected one @step(...) function, found {len(found)}")
    func, deco = found[0]
    keywords = {k.arg: k.value for k in deco.keywords if k.arg}
    flags = _literal(keywords["flags"], str(path)) if "flags" in keywords else {}
    cli_defaults = (
        _literal(keywords["cli_defaults"], str(path)) if "cli_defaults" in keywords else {}
    )
    executor_input = (
        bool(_literal(keywords["executor_input"], str(path)))
        if "executor_input" in keywords
        else False
    )
    extra: tuple[str, ...] = ()
    if "extra" in keywords:
        node = keywords["extra"]
        if not isinstance(node, ast.Dict):
            raise InterfaceError(f"{path}: extra= must be a dict literal of flag -> value")
        extra = tuple(_literal(k, str(path)) for k in node.keys if k is not None)
    description, docs = docstring_args(ast.get_docstring(func) or "")
    positional = func.args.args
    defaults: list[Any] = [_REQUIRED] * (len(positional) - len(func.args.defaults)) + [
        _literal(d, f"{path}:{func.name}") for d in func.args.defaults
    ]
    params = []
    for arg, default in zip(positional, defaults, strict=True):
        where = f"{path}:{func.name}({arg.arg})"
        kind, typ = _kind(arg.annotation, where)
        if arg.arg not in docs:
            raise InterfaceError(f"{where}: no line for it under Args: in the docstring")
        params.append(
            Param(
                arg.arg, flags.get(arg.arg, flag_name(arg.arg)), kind, typ, default, docs[arg.arg]
            )
        )
    unknown = sorted(set(cli_defaults) - {p.name for p in params})
    if unknown:
        raise InterfaceError(f"{path}: cli_defaults names no parameter: {unknown}")
    return Interface(
        module, func.name, description, tuple(params), executor_input, cli_defaults, extra
    )


def add_arguments(parser: argparse.ArgumentParser, interface: Interface) -> None:
    """One flag per declared parameter (and --executor-input when the step records metadata)."""
    for p in interface.params:
        kwargs: dict[str, Any] = {"help": p.help}
        kwargs["type"] = parse_bool if p.type is bool else p.type
        if not p.required:
            kwargs["default"] = p.default
        elif p.name in interface.cli_defaults:
            kwargs["default"] = interface.cli_defaults[p.name]
        else:
            kwargs["required"] = True
        parser.add_argument(f"--{p.flag}", **kwargs)
    if interface.executor_input:
        parser.add_argument(f"--{EXECUTOR_INPUT_FLAG}", default=None, help=EXECUTOR_INPUT_HELP)
    if any(p.name == BEAM_OPTIONS for p in interface.params):
        parser.add_argument(f"--{BEAM_WORKER_IMAGE_FLAG}", default="", help=BEAM_WORKER_IMAGE_HELP)


def parser(module: str, description: str | None = None) -> argparse.ArgumentParser:
    """The step's argument parser: `python -m <module>` with the flags component.py declares;
    the step adds its CLI-only flags (local conveniences, runtime values) to it."""
    interface = read(module)
    out = argparse.ArgumentParser(
        prog=f"python -m {module}",
        description=description or interface.description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(out, interface)
    return out
