"""The one way a step's KFP interface is declared: a signature with a docstring, nothing else.

`@step(image, module)` turns a typed, body-less function into a KFP container component whose
container runs `python -m <module>` with one `--flag value` per parameter, in signature order.
The parameter docstrings (`Args:`) become the IR's input and output descriptions, which the
KFP UI shows. The step's CLI reads the same signature (`components.common.interface`), so the
flags, their types, defaults and help are written once. Only `component.py` files import this
module: it imports kfp, which the step images do not have.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from kfp import dsl
from kfp.dsl.container_component_artifact_channel import ContainerComponentArtifactChannel
from kfp.dsl.types import type_annotations

from components.common.interface import (
    BEAM_OPTIONS,
    BEAM_WORKER_IMAGE_FLAG,
    EXECUTOR_INPUT_FLAG,
    docstring_args,
    flag_name,
)


def step(
    image: str,
    module: str,
    *,
    flags: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
    executor_input: bool = False,
    cli_defaults: Mapping[str, Any] | None = None,  # read by the CLI only (common.interface)
    uris: tuple[str, ...] = (),
) -> Callable[[Callable[..., None]], Any]:
    """Decorate a body-less signature into a container component running `module`.

    flags: parameter -> CLI flag name where they differ (e.g. a step's main output is
    `--output`); extra: flag -> value appended after the parameters (platform constants, KFP
    placeholders); executor_input: append `--executor-input {{$}}` so the step can record
    artifact metadata and output parameters; cli_defaults: parameter -> the CLI's default where
    the pipeline always passes one but a person running the CLI may leave it out; uris:
    artifacts passed as their URI (gs://... on KFP) instead of the launcher's local path, for a
    Beam job whose workers read and write them directly.
    """
    renamed = dict(flags or {})

    def decorate(func: Callable[..., None]) -> Any:
        names = list(inspect.signature(func).parameters)
        given_names = (("flags", renamed), ("cli_defaults", cli_defaults or {}), ("uris", uris))
        for what, given in given_names:
            unknown = sorted(set(given) - set(names))
            if unknown:
                raise ValueError(
                    f"{module}: {what}= names no parameter of {func.__name__}: {unknown}"
                )

        @functools.wraps(func)
        def container(*values: Any) -> dsl.ContainerSpec:
            args: list[Any] = []
            for name, value in zip(names, values, strict=True):
                placeholder = value
                if isinstance(value, ContainerComponentArtifactChannel):
                    placeholder = value.uri if name in uris else value.path
                args += [f"--{renamed.get(name, flag_name(name))}", placeholder]
            extras = dict(extra or {})
            if BEAM_OPTIONS in names:  # remote Beam workers run the step's own image
                extras[BEAM_WORKER_IMAGE_FLAG] = image
            for flag, value in extras.items():
                args += [f"--{flag}", value]
            if executor_input:
                args += [f"--{EXECUTOR_INPUT_FLAG}", dsl.PIPELINE_TASK_EXECUTOR_INPUT_PLACEHOLDER]
            return dsl.ContainerSpec(image=image, command=["python", "-m", module], args=args)

        outputs = {
            name
            for name, parameter in inspect.signature(func).parameters.items()
            if _is_output(parameter.annotation)
        }
        container.__doc__ = _kfp_docstring(inspect.getdoc(func) or "", outputs)
        return dsl.container_component(container)

    return decorate


def _is_output(annotation: Any) -> bool:
    return type_annotations.is_artifact_wrapped_in_Output(annotation) or isinstance(
        annotation, type_annotations.OutputPath
    )


def _kfp_docstring(doc: str, outputs: set[str]) -> str:
    """The docstring as KFP reads it: inputs under `Args:`, outputs under `Returns:` (KFP takes
    output descriptions from there), each entry on one line (KFP keeps line breaks in the
    descriptions it copies into the IR, and the UI shows them)."""
    head, _, _ = doc.partition("\nArgs:")
    _, entries = docstring_args(doc)
    if not entries:
        return doc
    lines = [head.rstrip(), "", "Args:"]
    lines += [f"    {name}: {text}" for name, text in entries.items() if name not in outputs]
    if outputs & set(entries):
        lines += ["", "Returns:"]
        lines += [f"    {name}: {text}" for name, text in entries.items() if name in outputs]
    return "\n".join(lines)
