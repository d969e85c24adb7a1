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
            f"{'.'.join([section, *(str(p) for p in e['loc'])])}: {e['msg']}" for e in err.errors()
        )
        raise ConfigError(f"{uri}: {problems}") from err


# Every section a pipeline config may have, and the model of the step that reads it. The first
# step of each DAG checks them all (validate_all), so a bad `train:` fails in seconds at ingest,
# not minutes later when train starts. The step modules named here hold only pydantic models
# (no TensorFlow or Beam at import); they are imported by name, when validate_all runs, so
# components.common still imports no step at import time (tests/test_layout.py).
SECTIONS: dict[str, str] = {
    "model": "components.common.model:ModelConfig",
    "ingest": "components.ingest.config:IngestConfig",
    "preprocess": "components.preprocess.schema:PreprocessConfig",
    "dataset": "components.dataset.split:DatasetSection",
    "train": "components.train.config:TrainConfig",
    "evaluate": "components.evaluate.metrics:EvaluateConfig",
    "deploy": "components.deploy.config:DeployConfig",
    "abtest": "components.readout.config:ABTestConfig",
    "monitor": "components.monitor.config:MonitorConfig",
}


def section_model(section: str) -> type[BaseModel]:
    """The pydantic model of `section` (SECTIONS), imported on demand."""
    import importlib

    module, _, name = SECTIONS[section].partition(":")
    model = getattr(importlib.import_module(module), name)
    assert isinstance(model, type) and issubclass(model, BaseModel), SECTIONS[section]
    return model


def validate_all(uri: str) -> dict[str, BaseModel]:
    """Validate every section the config at `uri` has against its step's model; a ConfigError
    naming every bad section and field (and any unknown section) at once. Absent sections are
    left to the steps that need them (an optional one has defaults)."""
    data = load_yaml(uri)
    unknown = sorted(set(data) - set(SECTIONS))
    problems = []
    if unknown:
        problems.append(f"unknown section(s) {unknown}; the sections are {sorted(SECTIONS)}")
    valid: dict[str, BaseModel] = {}
    for section in SECTIONS:
        if section not in data:
            continue
        try:
            valid[section] = validate_section(uri, section, section_model(section), data[section])
        except ConfigError as err:
            problems.append(str(err).removeprefix(f"{uri}: "))
    if problems:
        raise ConfigError(f"{uri}: {'; '.join(problems)}")
    return valid
