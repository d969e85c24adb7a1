"""The option tables of the config reference, generated from the pydantic models the steps
validate their sections with, so the docs cannot drift from the code.

Each section's table lives in its component's README between two markers:

    <!-- options: train -->
    ...generated...
    <!-- /options -->

    python scripts/config_docs.py           rewrite the tables in place
    python scripts/config_docs.py --check   exit 1 naming each README whose table is stale

A field's description is its `Field(description=...)`, else the comment lines right above it in
the model's source (the house style documents many fields that way); nested models are
flattened into dotted names (`optimizer.schedule.kind`), list items into `inputs[]`, and the
members of a union (`kind: text | categorical | numeric`) into one block per member.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from components.common.config import SECTIONS, section_model  # noqa: E402

# Where each section's table goes (a README of the step that reads it).
READMES: dict[str, str] = {
    "model": "config/README.md",
    "ingest": "components/ingest/README.md",
    "preprocess": "components/preprocess/README.md",
    "dataset": "components/dataset/README.md",
    "train": "components/train/README.md",
    "evaluate": "components/evaluate/README.md",
    "deploy": "components/deploy/README.md",
    "abtest": "components/readout/README.md",
    "monitor": "components/monitor/README.md",
}
BEGIN = "<!-- options: {section} -->"
END = "<!-- /options -->"


class DocsError(Exception):
    """A README lacks its markers, or a section has no README."""


def _comments(model: type[BaseModel]) -> dict[str, str]:
    """{field: the comment lines right above its annotation in the class body}."""
    try:
        lines = inspect.getsource(model).splitlines()
    except (OSError, TypeError):
        return {}
    found: dict[str, str] = {}
    pending: list[str] = []
    for line in lines[1:]:
        stripped = line.strip()
        if stripped.startswith("#"):
            pending.append(stripped.lstrip("#").strip())
            continue
        match = re.match(r"^\s{4}([A-Za-z_][A-Za-z0-9_]*)\s*:", line)
        if match and pending:
            found[match.group(1)] = " ".join(pending)
        pending = []
    return found


def _name(tp: Any) -> str:
    """A short readable type: `int`, `list[str]`, `float | None`, `"a" | "b"`."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return _name(args[0])
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" if isinstance(a, str) else repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(dict.fromkeys(_name(a) for a in args))
    if origin is not None:
        inner = ", ".join(_name(a) for a in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    if tp is type(None):
        return "None"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return "mapping"
    return getattr(tp, "__name__", str(tp))


def _type(tp: Any) -> str:
    """_name with repeated union members (several models are all `mapping`) said once."""
    parts = _name(tp).split(" \\| ")
    return " \\| ".join(dict.fromkeys(parts))


def _summary(model: type[BaseModel]) -> str:
    """The first sentence of a model's docstring (what the nested section is)."""
    doc = inspect.getdoc(model) or ""
    if model.__doc__ is None or doc == inspect.getdoc(BaseModel):
        return ""
    first = " ".join(doc.split("\n\n")[0].split())
    return first


def _models(tp: Any) -> tuple[str, list[type[BaseModel]]]:
    """('', [M]) for a model field, ('[]', [M...]) for a list of models, ('', [A, B]) for a
    union of models; no models for a plain field."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return _models(args[0])
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return "", [tp]
    if origin in (list, tuple) and args:
        suffix, items = _models(args[0])
        return ("[]" + suffix, items) if items else ("", [])
    if origin is dict and len(args) == 2:
        suffix, values = _models(args[1])
        return (".KEY" + suffix, values) if values else ("", [])
    if origin in (typing.Union, types.UnionType):
        found: list[type[BaseModel]] = []
        suffix = ""
        for arg in args:
            s, ms = _models(arg)
            suffix = suffix or s
            found += [m for m in ms if m not in found]
        return suffix, found
    return "", []


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    factory = info.default_factory
    value = factory() if factory is not None else info.default  # type: ignore[call-arg]
    if value is PydanticUndefined:
        return "required"
    if isinstance(value, BaseModel):
        return "see below"
    if value is None:
        return "none"
    return f"`{value!r}`".replace("|", "\\|")


def _discriminator(model: type[BaseModel]) -> str:
    """`kind=text` for a union member with a one-value Literal `kind` (or `name`) field."""
    for key in ("kind", "name"):
        info = model.model_fields.get(key)
        if info is not None and typing.get_origin(info.annotation) is typing.Literal:
            values = typing.get_args(info.annotation)
            if len(values) == 1:
                return f"{key}={values[0]}"
    return model.__name__


def rows(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(option, type, default, description) for every field of `model`, nested ones flattened."""
    out: list[tuple[str, str, str, str]] = []
    comments = _comments(model)
    for name, info in model.model_fields.items():
        key = info.alias or name
        path = f"{prefix}{key}"
        description = (info.description or comments.get(name, "")).replace("|", "\\|")
        suffix, nested = _models(info.annotation)
        if not description and len(nested) == 1:
            description = _summary(nested[0]).replace("|", "\\|")
        out.append((path, _type(info.annotation), _default(info), " ".join(description.split())))
        if len(nested) == 1:
            out += rows(nested[0], f"{path}{suffix}.")
            continue
        for member in nested:
            # One block per member, its tag in the path: inputs[kind=text].encoder ...
            tag = _discriminator(member)
            where = f"{path}{suffix[:-2]}[{tag}]" if suffix.endswith("[]") else f"{path}[{tag}]"
            out.append((where, "mapping", "", _summary(member).replace("|", "\\|")))
            out += rows(member, f"{where}.")
    return out


def table(section: str) -> str:
    """The markdown table of `section`'s options."""
    lines = [
        f"Generated from `{SECTIONS[section].replace(':', '.')}` by `scripts/config_docs.py`;"
        " do not edit by hand.",
        "",
        "| Option | Type | Default | Description |",
        "|---|---|---|---|",
    ]
    for option, type_name, default, description in rows(section_model(section)):
        lines.append(f"| `{section}.{option}` | {type_name} | {default} | {description} |")
    return "\n".join(lines)


def render(text: str, section: str, path: str) -> str:
    """`text` (a README) with the table of `section` between its markers replaced."""
    begin = BEGIN.format(section=section)
    start = text.find(begin)
    end = text.find(END, start + len(begin)) if start >= 0 else -1
    if start < 0 or end < 0:
        raise DocsError(f"{path}: no '{begin}' ... '{END}' markers for the {section} options")
    return text[: start + len(begin)] + "\n" + table(section) + "\n" + text[end:]


def stale(root: Path = REPO) -> list[str]:
    """The READMEs whose option tables differ from the models."""
    return [
        path
        for section, path in READMES.items()
        if render((root / path).read_text(), section, path) != (root / path).read_text()
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale tables")
    args = parser.parse_args(argv)
    missing = sorted(set(SECTIONS) - set(READMES))
    if missing:
        raise DocsError(f"sections {missing} have no README in scripts/config_docs.py READMES")
    try:
        if args.check:
            bad = stale()
            for path in bad:
                print(f"{path}: option table out of date; run python scripts/config_docs.py")
            return 1 if bad else 0
        for section, path in READMES.items():
            file = REPO / path
            file.write_text(render(file.read_text(), section, path))
    except DocsError as err:
        print(f"config_docs: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
