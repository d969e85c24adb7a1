"""The small exception hierarchy every component raises; the CLIs turn it into a clear exit."""

from __future__ import annotations


class PipelineError(Exception):
    """Base of every error a component reports to its user (exit code 2, no traceback)."""


class ConfigError(PipelineError):
    """A config file or flag is missing, malformed or out of range."""


class InputDataError(PipelineError):
    """Input data is unusable as a whole (empty file, missing column, unknown format)."""


class ReconciliationError(PipelineError):
    """Record counts do not add up: something would have been lost silently."""


class PublishError(PipelineError):
    """A versioned publish or pointer move could not complete."""


class ConflictError(PublishError):
    """A registry pointer was moved by another writer between reading it and moving it."""
