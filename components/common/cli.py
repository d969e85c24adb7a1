"""One way for every component CLI to set up logging and turn known errors into a clean exit.

Exit codes (components/common/errors.py): 2 for bad input (never retried), 75 for a transient
failure (retried), 1 for a crash with its traceback.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence

from components.common.errors import EXIT_RETRYABLE, EXIT_USER_ERROR, PipelineError

__all__ = ["EXIT_RETRYABLE", "EXIT_USER_ERROR", "run_cli", "setup_logging", "transient_reason"]

# Errors of the libraries underneath that mean "the service did not answer", not "the input is
# bad": (module, class names). Looked up only in modules already imported, so nothing is imported
# here; a module never imported cannot have raised.
_TRANSIENT = (
    (
        "google.api_core.exceptions",
        (
            "ServiceUnavailable",
            "TooManyRequests",
            "InternalServerError",
            "BadGateway",
            "GatewayTimeout",
            "DeadlineExceeded",
            "RetryError",
        ),
    ),
    ("google.auth.exceptions", ("TransportError",)),
    ("requests.exceptions", ("ConnectionError", "Timeout")),
    ("urllib3.exceptions", ("ProtocolError", "NewConnectionError", "TimeoutError")),
)


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
        force=True,
    )
    for noisy in ("apache_beam", "absl", "tensorflow", "matplotlib", "urllib3", "google"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _is_transient(err: BaseException) -> bool:
    if isinstance(err, ConnectionError | TimeoutError):
        return True
    for module_name, names in _TRANSIENT:
        module = sys.modules.get(module_name)
        kinds = tuple(getattr(module, n) for n in names if module and hasattr(module, n))
        if kinds and isinstance(err, kinds):
            return True
    # Beam's BeamIOError carries the errors of the paths it tried in `exception_details`.
    details = getattr(err, "exception_details", None)
    if isinstance(details, dict) and details:
        return all(isinstance(e, BaseException) and _is_transient(e) for e in details.values())
    return False


def transient_reason(err: BaseException) -> str | None:
    """One line saying why `err` (or an error that caused it) is transient; None when it is not
    a known transient failure of the services underneath."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _is_transient(current):
            text = " ".join(str(current).split())[:300]
            return f"{type(current).__name__}: {text}" if text else type(current).__name__
        current = current.__cause__ or current.__context__
    return None


def run_cli(
    name: str, body: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None
) -> int:
    """Run a component's main body. A PipelineError becomes one readable line and its exit code
    (2, or 75 when transient); a service that did not answer, one line and exit 75; anything
    else is a crash (traceback, exit 1)."""
    setup_logging()
    logger = logging.getLogger(name)
    try:
        return body(argv) or 0
    except PipelineError as err:
        logger.error("%s", err)
        retry = " (transient: a rerun may succeed)" if err.exit_code == EXIT_RETRYABLE else ""
        print(f"error: {err}{retry}", file=sys.stderr)
        return err.exit_code
    except Exception as err:
        reason = transient_reason(err)
        if reason is None:
            raise
        logger.error("transient failure: %s", reason)
        print(
            f"error: transient failure, a rerun may succeed: {reason}; check the network and "
            "the service it names",
            file=sys.stderr,
        )
        return EXIT_RETRYABLE
