"""What each dataset feature is for a model: categorical, numeric, text, or an id that no model
should take as input. The dataset step writes these kinds into its schema.json (declared or
inferred); train and evaluate read them to default their inputs and baseline columns."""

from __future__ import annotations

import re
from typing import Literal

from components.common import fs
from components.common.artifacts import Dataset
from components.common.errors import InputDataError

Kind = Literal["categorical", "numeric", "text", "id"]
KINDS: tuple[str, ...] = ("categorical", "numeric", "text", "id")
WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> list[str]:
    """The words of a text, as the dataset step counts them and the monitor's out-of-vocabulary
    rate reads them: lower-cased runs of letters, digits and underscores."""
    return WORD.findall(text.lower())


def _schema(dataset_dir: str) -> dict:
    uri = Dataset.schema(dataset_dir)
    if not fs.exists(uri):
        raise InputDataError(f"{dataset_dir}: no {Dataset.SCHEMA}; run the dataset step first")
    return fs.read_json(uri)


def kinds(dataset_dir: str) -> dict[str, str]:
    """{feature: kind} for every feature but the label, from the dataset's schema.json. A dataset
    written before kinds were recorded gives string -> categorical, numbers -> numeric."""
    schema = _schema(dataset_dir)
    label = schema.get("label", Dataset.LABEL)
    recorded = schema.get("kinds")
    if recorded is None:
        return {
            name: "categorical" if kind == "string" else "numeric"
            for name, kind in sorted(schema["features"].items())
            if name != label
        }
    return {name: str(kind) for name, kind in sorted(recorded.items()) if name != label}


def model_inputs(dataset_dir: str, exclude: tuple[str, ...] = ()) -> dict[str, str]:
    """{feature: kind} of the features a model may take: every kind but `id`, minus `exclude`."""
    return {
        name: kind
        for name, kind in kinds(dataset_dir).items()
        if kind != "id" and name not in exclude
    }
