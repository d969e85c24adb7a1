"""The small exception hierarchy every component raises; the CLIs turn it into a clear exit.

The exit code tells the engines' retry rules what a failure is (the Argo retryStrategy of every
step retries any exit but EXIT_USER_ERROR; KFP retries every failure):
  EXIT_USER_ERROR (2)  bad input or state no rerun can fix: a bad flag, config or file; not retried
  EXIT_RETRYABLE (75)  transient: another writer won a race, a service could not be reached; a
                       rerun may succeed (75 is EX_TEMPFAIL of sysexits.h)
  1                    a crash with a traceback (a bug); retried like any exit but 2
"""

from __future__ import annotations

from typing import ClassVar

EXIT_USER_ERROR = 2
EXIT_RETRYABLE = 75


class PipelineError(Exception):
    """Base of every error a component reports to its user: one line, no traceback, exit code
    `exit_code` (EXIT_USER_ERROR unless the error is transient)."""

    exit_code: ClassVar[int] = EXIT_USER_ERROR


class ConfigError(PipelineError):
    """A config file or flag is missing, malformed or out of range."""


class InputDataError(PipelineError):
    """Input data is unusable as a whole (empty file, missing column, unknown format)."""


class ReconciliationError(PipelineError):
    """Record counts do not add up: something would have been lost silently."""


class PublishError(PipelineError):
    """A versioned publish or pointer move could not complete."""


class TransientError(PipelineError):
    """A failure outside the input that a rerun may not meet (exit EXIT_RETRYABLE, retried)."""

    exit_code: ClassVar[int] = EXIT_RETRYABLE


class ConflictError(PublishError, TransientError):
    """A registry pointer was moved by another writer between reading it and moving it; nothing
    was changed, and a rerun reads the registry again (retryable)."""

    exit_code: ClassVar[int] = EXIT_RETRYABLE


class UnreachableError(TransientError):
    """A bucket or service did not answer in time (retryable; the message says what to check)."""
