"""One way for every component CLI to set up logging and turn known errors into a clean exit."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence

from components.common.errors import PipelineError

EXIT_USER_ERROR = 2


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


def run_cli(
    name: str, body: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None
) -> int:
    """Run a component's main body; a PipelineError becomes one readable line and exit code 2."""
    setup_logging()
    try:
        return body(argv) or 0
    except PipelineError as err:
        logging.getLogger(name).error("%s", err)
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
