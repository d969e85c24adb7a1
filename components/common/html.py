"""Self-contained HTML reports: matplotlib figures embedded as PNG, a Jinja2 template per step,
and the provenance every report states in its header."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import subprocess
import uuid
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from components.common import fs
from components.common.times import display_stamp


def png(fig: Any) -> str:
    """A matplotlib figure as base64 PNG for an <img src="data:..."> (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def pyplot() -> Any:
    """matplotlib.pyplot on the file-only Agg backend (no display on workers)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def render(package: str, template: str, **context: Any) -> str:
    import jinja2

    text = resources.files(package).joinpath(template).read_text()
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    generated = display_stamp()
    return env.from_string(text).render(generated=generated, **context)


# Provenance: what a report was made from, so a reader can tell two reports apart at a glance.
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_LOCAL_RUN = re.compile(
    r"[a-z0-9][a-z0-9-]*-\d{8}-\d{6}(-[0-9a-f]{6})?"
)  # results.allocate_run_dir
# What the engines put into a step's environment: Argo's executor sets ARGO_WORKFLOW_NAME/UID;
# a KFP deployment may set KFP_RUN_ID (the local runners set neither).
_RUN_ENV = (("ARGO_WORKFLOW_UID", "Argo workflow uid"), ("KFP_RUN_ID", "KFP run"))


def run_id(paths: Iterable[str]) -> str:
    """The run a step belongs to: from the engine's environment, else from its artifacts' paths
    (KFP writes under <pipeline root>/<pipeline>/<run uuid>/<task>/, the local runners under
    runs/<pipeline>-<stamp>-<hex>/<task>/, whose job id is uuid5 of that folder)."""
    for var, what in _RUN_ENV:
        value = os.environ.get(var, "")
        if value:
            name = os.environ.get("ARGO_WORKFLOW_NAME", "") if var.startswith("ARGO") else ""
            return f"{what} {value}" + (f" ({name})" if name else "")
    for path in paths:
        parts = path.rstrip("/").split("/")
        for i in range(len(parts) - 2, -1, -1):
            if _LOCAL_RUN.fullmatch(parts[i]) and not fs.is_remote(path):
                folder = Path("/".join(parts[: i + 1]) or "/").resolve()
                job = uuid.uuid5(uuid.NAMESPACE_URL, str(folder))  # = results.run_uid
                return f"local run {parts[i]} (job id {job})"
            if _UUID.fullmatch(parts[i]):
                return f"KFP run {parts[i]}"
    return "not known (the step ran outside a pipeline)"


def stats_digest(stats: Mapping[str, Any]) -> str:
    """A dataset's identity: sha256 of its stats.json without the drift comparison (which
    depends on the baseline), the same in the dataset and the evaluation report."""
    canonical = {k: v for k, v in stats.items() if k != "drift"}
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def code_version() -> str:
    """The code that ran: the components' source digest, and the git commit when the step ran
    from a checkout (the images hold no .git; their tag or digest is in the pipeline spec)."""
    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    for path in sorted((root / "components").rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    text = f"components sha256 {digest.hexdigest()[:12]}"
    if (root / ".git").exists():
        head = _git(root, "rev-parse", "--short=12", "HEAD")
        if head:
            dirty = _git(root, "status", "--porcelain", "--untracked-files=no")
            text += f" · git {head}" + (" with uncommitted changes" if dirty else "")
    return text


def _git(root: Path, *args: str) -> str:
    """git's output in `root`, stripped; empty when git is missing or fails."""
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def config_version(config_uri: str) -> str:
    """The config file and a digest of its bytes."""
    digest = hashlib.sha256(fs.read_text(config_uri).encode()).hexdigest()
    return f"{config_uri} (sha256 {digest[:12]})"
