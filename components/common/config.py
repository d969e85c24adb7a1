"""Load one section of a pipeline config file (YAML) into a pydantic model, with readable errors."""

from __future__ import annotations

from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from components.common import fs
from components.common.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """Base for config sections: unknown keys are errors, so a typo never goes unnoticed."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def load_yaml(uri: str) -> dict:
    try:
        text = fs.read_text(uri)
    except UnicodeDecodeError as err:
        raise ConfigError(f"{uri}: not UTF-8 text ({err})") from err
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{uri}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{uri}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def load_section(uri: str, section: str, model: type[M], optional: bool = False) -> M:
    """Read `section` of the config at `uri` as `model`; name the file, key and problem on error.
    An `optional` section that is absent gives the model's defaults."""
    data = load_yaml(uri)
    if section not in data:
        if optional:
            return model.model_validate({})
        raise ConfigError(f"{uri}: missing section '{section}'; the file has {sorted(data)}")
    return validate_section(uri, section, model, data[section])


def validate_section(uri: str, section: str, model: type[M], data: object) -> M:
    """`data`, the `section` of the config at `uri`, as `model`; the errors name file and keys."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(
            f"{section}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
        raise ConfigError(f"{uri}: {problems}") from err
