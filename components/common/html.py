"""Self-contained HTML reports: matplotlib figures embedded as PNG, a Jinja2 template per step."""

from __future__ import annotations

import base64
import io
from importlib import resources
from typing import Any

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
