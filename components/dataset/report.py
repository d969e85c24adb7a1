"""The dataset's HTML data report: provenance, splits, label balance, schema anomalies,
per-feature statistics, drift."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from components.common import html
from components.common.config import load_yaml
from components.dataset import stats as st


def label_names(config_uri: str) -> dict[str, str]:
    """Label value -> its name, from the config's label mapping (preprocess.label.mapping,
    name -> value); empty when the config maps none."""
    label = (load_yaml(config_uri).get("preprocess") or {}).get("label") or {}
    return {str(value): str(name) for name, value in (label.get("mapping") or {}).items()}


def provenance(stats: dict[str, Any], config_uri: str, out: Path) -> list[tuple[str, str]]:
    """The header's rows: run, data (the digest the evaluation report also shows), code and
    config."""
    return [
        ("run", html.run_id([str(Path(out).absolute())])),
        (
            "data",
            f"dataset {html.stats_digest(stats)[:12]} ({stats['total_examples']} examples, "
            f"split by {stats['group_key']}, salt {stats['salt']!r})",
        ),
        ("code", html.code_version()),
        ("config", html.config_version(config_uri)),
    ]


SOURCES = {
    "inferred": "inferred from the data",
    "overridden": "inferred, overridden in preprocess.overrides",
    "declared": "declared in preprocess.schema",
    "profile": "a profile aggregate (preprocess.profiles)",
    "record_id": "content hash (preprocess.record_id)",
    "label": "the label (preprocess.label)",
    "config": "declared in dataset.features",
}


def schema_rows(schema: dict[str, Any]) -> list[dict[str, str]]:
    """One row per feature of the dataset's schema.json: name, type, kind, where it came from."""
    kinds = schema.get("kinds") or {}
    sources = schema.get("sources") or {}
    return [
        {
            "name": name,
            "type": type_,
            "kind": "label" if name == schema.get("label") else kinds.get(name, "-"),
            "source": SOURCES.get(sources.get(name, ""), sources.get(name, "-")),
        }
        for name, type_ in sorted(schema["features"].items())
    ]


def _name(value: str, names: dict[str, str]) -> str:
    return f"{names[value]} ({value})" if value in names else f"label {value}"


def plots(
    stats: dict[str, Any], kinds: dict[str, str], names: dict[str, str] | None = None
) -> list[tuple[str, str]]:
    plt = html.pyplot()
    splits = stats["splits"]
    out = []
    fig, ax = plt.subplots(figsize=(5, 3.6))
    labels = sorted({k for s in splits.values() for k in s.get("label_counts", {})})
    bottom = [0.0] * len(splits)
    for label in labels:
        shares = [
            s.get("label_counts", {}).get(label, 0) / max(s["examples"], 1) for s in splits.values()
        ]
        ax.bar(list(splits), shares, bottom=bottom, label=_name(label, names or {}))
        bottom = [b + x for b, x in zip(bottom, shares, strict=True)]
    ax.set(ylabel="share of examples", title="Label balance per split", ylim=(0, 1))
    ax.legend(loc="lower right")
    out.append(("Label balance", html.png(fig)))
    for name, kind in sorted(kinds.items()):
        few = [s.get("features", {}).get(name, {}).get("distinct", 0) for s in splits.values()]
        if kind == "int" and 0 < max(few) <= 10:
            continue  # a few values (e.g. the label): the tables show them better than a curve
        if kind == "string" and 0 < max(few) <= 50:  # categorical: shares of the top values
            out.append((f"{name} top values", _top_values(plt, name, splits)))
            continue
        fig, ax = plt.subplots(figsize=(5, 3.6))
        drawn = False
        for split, s in splits.items():
            q = s.get("features", {}).get(name, {}).get("quantiles") or []
            if len(q) > 1:
                ax.plot([i / (len(q) - 1) for i in range(len(q))], q, marker=".", label=split)
                drawn = True
        if not drawn:
            plt.close(fig)
            continue
        what = "length (characters)" if kind == "string" else "value"
        ax.set(xlabel="quantile", ylabel=what, title=f"{name}: {what} by quantile")
        ax.legend()
        out.append((f"{name} quantiles", html.png(fig)))
    return out


def _top_values(plt: Any, name: str, splits: dict[str, Any]) -> str:
    first = next(iter(splits.values()))["features"].get(name, {})
    values = [v for v, _ in first.get("top", [])[:8]]
    fig, ax = plt.subplots(figsize=(5, 3.6))
    width = 0.8 / max(len(splits), 1)
    for i, (split, s) in enumerate(splits.items()):
        stats = s.get("features", {}).get(name, {})
        present = max(stats.get("count", 0) - stats.get("missing", 0), 1)
        counts = dict(stats.get("top", []))
        ax.barh(
            [j + i * width for j in range(len(values))],
            [counts.get(v, 0) / present for v in values],
            height=width,
            label=split,
        )
    ax.set_yticks([j + 0.4 - width / 2 for j in range(len(values))], [v[:24] for v in values])
    ax.invert_yaxis()
    ax.set(xlabel="share of present values", title=f"{name}: most frequent values")
    ax.legend()
    return html.png(fig)


def render(
    stats: dict[str, Any],
    kinds: dict[str, str],
    drift: dict[str, Any] | None,
    names: dict[str, str] | None = None,
    prov: list[tuple[str, str]] | None = None,
    schema: dict[str, Any] | None = None,
) -> str:
    """The report. `names`: label value -> name (label_names); `prov`: the header's rows;
    `schema`: the dataset's schema.json, shown as each feature's type, kind and source."""
    names = names or {}
    unique = {
        name
        for name in kinds
        if any(
            st.mostly_unique(s.get("features", {}).get(name, {})) for s in stats["splits"].values()
        )
    }
    with_top = {
        name
        for name in kinds
        if any("top" in s.get("features", {}).get(name, {}) for s in stats["splits"].values())
    }
    anomalies = st.data_anomalies(stats, kinds, list(names) or None)
    anomalies += (drift or {}).get("anomalies", [])
    rows = st.drift_rows(drift) if drift else []
    return html.render(
        "components.dataset",
        "report.html.j2",
        stats=stats,
        kinds=kinds,
        drift=drift,
        plots=plots(stats, kinds, names),
        names=names,
        unique=unique,
        with_top=with_top,
        anomalies=anomalies,
        drift_rows=rows,
        flagged=[r for r in rows if r["status"] != "ok"],
        measures={m: st.MEASURES[m] for m in dict.fromkeys(r["measure"] for r in rows)},
        provenance=prov or [],
        schema_rows=schema_rows(schema) if schema else [],
        excluded=(schema or {}).get("excluded") or [],
        label=_name,
        missing_tolerance=st.MISSING_RATE_TOLERANCE,
        domain_max=st.DOMAIN_MAX,
        range_margin=st.RANGE_MARGIN,
    )
