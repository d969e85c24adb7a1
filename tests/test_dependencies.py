"""pyproject.toml's dependencies are the lock inputs: [project] dependencies are exactly the runtime
requirements/{base,beam,tf}.in (names and pins), its extras exactly what requirements/dev.in adds,
and every direct requirement is in the lock file the images and the venv install from."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from tests.conftest import REPO

REQUIREMENTS = REPO / "requirements"
RUNTIME = ("base", "beam", "tf")


def name_of(requirement: str) -> str:
    """The normalised distribution name of a requirement line (PEP 503)."""
    name = re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def normalised(requirement: str) -> str:
    name, rest = name_of(requirement), requirement.strip()
    return name + re.sub(r"\s+", "", rest[len(re.split(r"[<>=!~;\s]", rest, maxsplit=1)[0]) :])


def in_file(stem: str) -> set[str]:
    """The requirement lines of requirements/<stem>.in itself (not those it includes with -r)."""
    lines = (REQUIREMENTS / f"{stem}.in").read_text().splitlines()
    return {
        normalised(line.split("#", 1)[0])
        for line in lines
        if line.split("#", 1)[0].strip() and not line.startswith("-")
    }


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def locked(stem: str) -> dict[str, str]:
    """{name: version} of requirements/<stem>.lock."""
    text = (REQUIREMENTS / f"{stem}.lock").read_text()
    return {name_of(m[1]): m[2] for m in re.finditer(r"^([A-Za-z0-9._\[\],-]+)==(\S+)", text, re.M)}


def test_project_dependencies_are_the_runtime_lock_inputs() -> None:
    declared = {normalised(r) for r in pyproject()["dependencies"]}
    runtime = set().union(*(in_file(stem) for stem in RUNTIME))
    assert sorted(declared - runtime) == [], "in pyproject.toml, not in requirements/*.in"
    assert sorted(runtime - declared) == [], "in requirements/*.in, not in pyproject.toml"


def test_extras_are_what_dev_adds() -> None:
    extras = {
        normalised(r) for group in pyproject()["optional-dependencies"].values() for r in group
    }
    dev = in_file("dev")
    assert sorted(extras - dev) == [], "an extra of pyproject.toml is not in requirements/dev.in"
    assert sorted(dev - extras) == [], "requirements/dev.in has what no pyproject extra names"


def test_every_direct_requirement_is_locked() -> None:
    """Each .in's own requirements are pinned in its lock (re-lock with `make lock` if not)."""
    missing = [
        f"{stem}.lock lacks {name_of(req)}"
        for stem in (*RUNTIME, "dev")
        for req in in_file(stem)
        if name_of(req.split("[")[0]) not in locked(stem)
    ]
    assert missing == []


def test_name_parsing() -> None:
    assert name_of("apache-beam[gcp]==2.77.0") == "apache-beam"
    assert normalised("types-PyYAML") == "types-pyyaml"
    assert normalised("pydantic >=2.7, <3") == "pydantic>=2.7,<3"
    assert Path(REQUIREMENTS / "base.in").is_file()
