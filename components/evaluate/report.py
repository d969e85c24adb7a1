"""Plots (PNG, embedded) and the self-contained HTML evaluation report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from components.common import html
from components.common.artifacts import TrainedModel
from components.evaluate import metrics as m

METRIC_NAMES = ["roc_auc", "pr_auc", "accuracy", "precision", "recall", "f1", "log_loss"]
BASELINE_PREFIX = "baseline_"


def key(baseline: str) -> str:
    """A baseline's key among the scored models (its scores, slice columns, intervals)."""
    return BASELINE_PREFIX + baseline


def title(model: str) -> str:
    """How the report names a scored model: candidate, champion, baseline <name>."""
    return model.replace(BASELINE_PREFIX, "baseline ", 1)


def plots(
    labels: np.ndarray,
    curves: dict[str, np.ndarray | None],
    confusion: list[list[int]],
    history: dict[str, list[float]] | None,
    calibration: dict[str, Any] | None = None,
    slices: dict[str, list[dict[str, Any]]] | None = None,
    best: tuple[str, int] | None = None,
    threshold: float = 0.5,
) -> list[tuple]:
    """The report's figures; `best` is the early-stopping monitor and the 1-based epoch whose
    weights the model holds (best_epoch), marked on the training history; `threshold` the one
    the confusion matrix was counted at (evaluate.threshold)."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    plt = html.pyplot()
    out = []
    fig, ax = plt.subplots(figsize=(5, 4.2))
    for name, s in curves.items():
        if s is not None:
            fpr, tpr, _ = roc_curve(labels, s)
            ax.plot(fpr, tpr, label=title(name))
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve")
    ax.legend(loc="lower right")
    out.append(("ROC curve", html.png(fig)))

    fig, ax = plt.subplots(figsize=(5, 4.2))
    for name, s in curves.items():
        if s is not None:
            p, r, _ = precision_recall_curve(labels, s)
            ax.plot(r, p, label=title(name))
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall curve")
    ax.legend(loc="lower left")
    out.append(("Precision-recall curve", html.png(fig)))

    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    cm = np.array(confusion)
    ax.imshow(cm, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        ax.text(
            j,
            i,
            str(v),
            ha="center",
            va="center",
            color="white" if v > cm.max() / 2 else "black",
            fontsize=13,
        )
    ax.set(
        xticks=[0, 1],
        yticks=[0, 1],
        xticklabels=["0", "1"],
        yticklabels=["0", "1"],
        xlabel="predicted",
        ylabel="actual",
        title=f"Confusion matrix (threshold {threshold:g})",
    )
    out.append(("Confusion matrix", html.png(fig)))

    if calibration:
        fig, ax = plt.subplots(figsize=(5, 4.2))
        points = calibration["curve"]
        ax.plot([0, 1], [0, 1], "--", color="grey", lw=0.8, label="perfect")
        ax.plot(
            [p["predicted"] for p in points],
            [p["observed"] for p in points],
            "o-",
            label=f"candidate (ECE {calibration['ece']:.3f})",
        )
        ax.set(
            xlabel="mean predicted probability",
            ylabel="observed positive rate",
            title="Calibration",
            xlim=(0, 1),
            ylim=(0, 1),
        )
        ax.legend(loc="upper left")
        out.append(("Calibration (reliability curve)", html.png(fig)))

    for name, rows in (slices or {}).items():
        out.append((f"ROC AUC by {name}", _slice_chart(plt, name, rows)))

    if history:
        caption = "Training history"
        if best and best[0] in history:
            value = history[best[0]][best[1] - 1]
            caption += f" (weights restored from epoch {best[1]}: best {best[0]} {value:.4f})"
        out.append((caption, _history_chart(plt, history, best)))
    return out


def _slice_chart(plt: Any, name: str, rows: list[dict[str, Any]]) -> str:
    """ROC AUC per slice as points with their 95% bootstrap intervals, one colour per model,
    on an axis padded around the intervals (and chance, 0.5) rather than cut at a fixed value."""
    fig, ax = plt.subplots(figsize=(5, 4.2))
    models = ["candidate", *_others(rows)]
    step = 0.6 / max(len(models), 1)
    shown: list[float] = [0.5]
    for i, model in enumerate(models):
        key = "roc_auc" if model == "candidate" else f"{model}_roc_auc"
        x = np.arange(len(rows)) + (i - (len(models) - 1) / 2) * step
        y = np.array([r.get(key, np.nan) for r in rows], dtype=float)
        cis = [r.get(f"{key}_ci") or [v, v] for r, v in zip(rows, y, strict=True)]
        lo = np.array([c[0] for c in cis], dtype=float)
        hi = np.array([c[1] for c in cis], dtype=float)
        ax.errorbar(
            x,
            y,
            yerr=[y - lo, hi - y],
            fmt="o",
            capsize=3,
            label=title(model),
            ms=5,
            elinewidth=1.2,
        )
        shown += [v for v in (*lo, *hi, *y) if np.isfinite(v)]
    ax.axhline(0.5, color="grey", ls="--", lw=0.8)
    ax.text(len(rows) - 0.5, 0.5, "chance", color="grey", fontsize=8, ha="right", va="bottom")
    pad = max((max(shown) - min(shown)) * 0.08, 0.02)
    ax.set_ylim(max(min(shown) - pad, 0.0), min(max(shown) + pad, 1.0))
    ax.set_xticks(np.arange(len(rows)))
    ax.set_xticklabels(
        [f"{r['slice']} (n={r['examples']})" for r in rows], fontsize=8, rotation=30, ha="right"
    )
    ax.set_xlim(-0.5, len(rows) - 0.5)
    ax.set(ylabel="ROC AUC (whiskers: 95% bootstrap CI)", title=f"ROC AUC by {name}")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    return html.png(fig)


def _history_chart(plt: Any, history: dict[str, list[float]], best: tuple[str, int] | None) -> str:
    """AUC and loss per epoch (train dotted, validation solid), the restored epoch marked."""
    from matplotlib.ticker import MaxNLocator

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(5, 4.6), sharex=True)
    for ax, keys in ((top, ("auc", "val_auc")), (bottom, ("loss", "val_loss"))):
        for key in keys:
            if key in history:
                ax.plot(
                    range(1, len(history[key]) + 1),
                    history[key],
                    label=key,
                    ls="-" if key.startswith("val") else ":",
                    marker="." if key.startswith("val") else None,
                )
        ax.set_ylabel(keys[0])
        ax.legend(fontsize=8, loc="best")
        ax.grid(alpha=0.3)
    if best and best[0] in history:
        monitor, epoch = best
        value = history[monitor][epoch - 1]
        for ax in (top, bottom):
            ax.axvline(epoch, color="#34a853", lw=1.2, ls="--")
        panel = bottom if "loss" in monitor else top
        panel.plot([epoch], [value], "*", color="#34a853", ms=12, zorder=5, label="restored")
        top.set_title(f"Weights restored from epoch {epoch} ({monitor} {value:.4f})", fontsize=10)
    else:
        top.set_title("Training history")
    bottom.set_xlabel("epoch")
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    return html.png(fig)


def best_epoch(history: dict[str, list[float]], monitor: str | None) -> tuple[str, int] | None:
    """The 1-based epoch EarlyStopping(restore_best_weights=True) restores: the first best of
    `monitor` (highest for an AUC or accuracy, lowest otherwise, as the trainer sets its mode);
    None without early stopping or when the history lacks the monitor."""
    series = history.get(monitor or "")
    if not monitor or not series:
        return None
    higher = "auc" in monitor or "acc" in monitor
    target = max(series) if higher else min(series)
    return monitor, series.index(target) + 1


def monitor_of(model_dir: str) -> str | None:
    """The early-stopping monitor in the model folder's train_config.json, if any."""
    path = Path(model_dir) / TrainedModel.TRAIN_CONFIG
    if not path.exists():
        return None
    stopping = json.loads(path.read_text()).get("early_stopping") or {}
    return stopping.get("monitor")


def metric_rows(
    candidate: dict[str, Any],
    others: dict[str, dict[str, Any] | None],
    intervals: dict[str, Any] | None,
) -> list[dict[str, Any]]:
    """The metrics table: per metric the candidate's value and 95% interval, and per other model
    its value, the delta, the delta's paired-bootstrap interval and the verdict (better, worse,
    same: the interval holds 0) by the metric's direction."""
    intervals = intervals or {}
    rows = []
    for name in METRIC_NAMES:
        row: dict[str, Any] = {
            "name": name,
            "direction": "lower is better" if name in m.LOWER_IS_BETTER else "higher is better",
            "value": candidate[name],
            "ci": intervals.get("candidate", {}).get(name),
            "vs": [],
        }
        for model, metrics_ in others.items():
            if metrics_ is None:
                continue
            delta = candidate[name] - metrics_[name]
            ci = intervals.get("deltas", {}).get(model, {}).get(name)
            row["vs"].append(
                {
                    "value": metrics_[name],
                    "delta": delta,
                    "ci": ci,
                    "verdict": m.judge_delta(name, delta, ci),
                }
            )
        rows.append(row)
    return rows


def _others(rows: list[dict[str, Any]]) -> list[str]:
    """The models other than the candidate that slice rows score (`<model>_roc_auc`), in order."""
    seen = [k[: -len("_roc_auc")] for r in rows for k in r if k.endswith("_roc_auc")]
    return list(dict.fromkeys(seen))


def render(
    model_name: str,
    candidate: dict[str, Any],
    champion: dict[str, Any] | None,
    champion_version: str | None,
    blessed: bool,
    reasons: list[str],
    plot_list: list[tuple],
    dataset: dict[str, Any] | None,
    baseline: dict[str, Any] | None = None,
    slices: dict[str, list[dict[str, Any]]] | None = None,
    calibration: dict[str, Any] | None = None,
    provenance: list[tuple[str, str]] | None = None,
    intervals: dict[str, Any] | None = None,
    *,
    baselines: dict[str, dict[str, Any]] | None = None,
    rules: list[dict[str, Any]] | None = None,
) -> str:
    """The report; `intervals` is metrics.report_intervals' output (the candidate's and the
    deltas' bootstrap intervals), `provenance` the header's (what, value) rows, `baselines`
    {name: Fitted.summary()} and `rules` metrics.check_rules' rows. `baseline`, one baseline's
    metrics, is the older single-baseline form (shown as "baseline")."""
    others: dict[str, dict[str, Any] | None] = {"champion": champion}
    headers = {"champion": f"champion {champion_version}"}
    if baseline is not None:
        others["baseline"] = baseline
        headers["baseline"] = "baseline"
    for name, summary in (baselines or {}).items():
        if summary["metrics"] is not None:
            others[key(name)] = summary["metrics"]
            headers[key(name)] = f"baseline {name}"
    shown = [k for k, v in others.items() if v is not None]
    return html.render(
        "components.evaluate",
        "report.html.j2",
        model_name=model_name,
        candidate=candidate,
        champion=champion,
        champion_version=champion_version,
        blessed=blessed,
        reasons=reasons,
        plots=plot_list,
        dataset=dataset,
        headers=[headers[k] for k in shown],
        baselines=baselines or {},
        rules=rules or [],
        slices=slices or {},
        slice_models={n: [(k, title(k)) for k in _others(r)] for n, r in (slices or {}).items()},
        calibration=calibration,
        metric_names=METRIC_NAMES,
        rows=metric_rows(candidate, others, intervals),
        provenance=provenance or [],
        resamples=m.BOOTSTRAP_RESAMPLES,
    )


def provenance(model_dir: str, dataset_dir: str, config_uri: str) -> list[tuple[str, str]]:
    """The header's rows: run, candidate (its model digest, as the registry compares versions,
    and its files' digest, whose first 8 digits end the version id deploy gives it), data (the
    dataset's stats digest, as its own report shows), code and config."""
    from components.common import fs
    from components.common.artifacts import Dataset
    from components.common.model_digest import model_digest, short

    saved_model = Path(model_dir) / TrainedModel.SAVED_MODEL
    if (saved_model / "saved_model.pb").exists():
        files = fs.tree_sha256(saved_model)
        candidate = (
            f"model digest {short(model_digest(saved_model))} (what it computes) · files sha256 "
            f"{files[:12]} (a published version is named v<time>-{files[:8]})"
        )
    else:
        candidate = f"{model_dir} (no {TrainedModel.SAVED_MODEL}/saved_model.pb)"
    stats_uri = Dataset.stats(dataset_dir)
    if fs.exists(stats_uri):
        stats = fs.read_json(stats_uri)
        data = (
            f"dataset {html.stats_digest(stats)[:12]} ({stats['total_examples']} examples, "
            f"split by {stats['group_key']})"
        )
    else:
        data = f"{dataset_dir} (no {Dataset.STATS})"
    return [
        ("run", html.run_id([model_dir, dataset_dir])),
        ("candidate", candidate),
        ("data", data),
        ("code", html.code_version()),
        ("config", html.config_version(config_uri)),
    ]
