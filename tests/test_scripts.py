"""Entry scripts parse their arguments without a cluster."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_kfp_submit_help_and_bad_param() -> None:
    script = str(REPO / "scripts" / "kfp_submit.py")
    ok = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True)
    assert ok.returncode == 0 and "recurring run" in ok.stdout
    bad = subprocess.run(
        [sys.executable, script, "--host", "http://127.0.0.1:9", "run", "retrain", "-p", "oops"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "expected name=value" in bad.stderr
