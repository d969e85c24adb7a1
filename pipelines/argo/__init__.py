"""The Argo backend: KFP v2 IR compiled to native Argo Workflows.

`compile` (the compiler) uses `translate` (placeholders and conditions as Argo variables and
expressions) and `validate` (hera's models, Argo's JSON schema); `dump` writes YAML, `write` every
Argo file of the repo, `cluster` the plain objects the workflows need. Every module raises
CompileError.
"""

from pipelines.ir import IRError


class CompileError(IRError):
    """The IR uses something the Argo backend does not support; the message names it."""
