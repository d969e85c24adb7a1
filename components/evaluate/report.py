"""Plots (PNG, embedded) and the self-contained HTML evaluation report."""

from __future__ import annotations

from typing import Any

import numpy as np

from components.common import html

METRIC_NAMES = ["roc_auc", "pr_auc", "accuracy", "precision", "recall", "f1", "log_loss"]


def plots(
    labels: np.ndarray,
    curves: dict[str, np.ndarray | None],
    confusion: list[list[int]],
    history: dict[str, list[float]] | None,
    calibration: dict[str, Any] | None = None,
    slices: dict[str, list[dict[str, Any]]] | None = None,
) -> list[tuple]:
    from matplotlib.ticker import MaxNLocator
    from sklearn.metrics import precision_recall_curve, roc_curve

    plt = html.pyplot()
    out = []
    fig, ax = plt.subplots(figsize=(5, 4.2))
    for name, s in curves.items():
        if s is not None:
            fpr, tpr, _ = roc_curve(labels, s)
            ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve")
    ax.legend(loc="lower right")
    out.append(("ROC curve", html.png(fig)))

    fig, ax = plt.subplots(figsize=(5, 4.2))
    for name, s in curves.items():
        if s is not None:
            p, r, _ = precision_recall_curve(labels, s)
            ax.plot(r, p, label=name)
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
        title="Confusion matrix (threshold 0.5)",
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
        fig, ax = plt.subplots(figsize=(5, 4.2))
        models = [m for m in ("candidate", "champion", "baseline") if _has(rows, m)]
        width = 0.8 / len(models)
        for i, model in enumerate(models):
            key = "roc_auc" if model == "candidate" else f"{model}_roc_auc"
            values = [r.get(key, float("nan")) for r in rows]
            ax.bar(np.arange(len(rows)) + i * width, values, width, label=model)
        ax.set_xticks(np.arange(len(rows)) + width * (len(models) - 1) / 2)
        ax.set_xticklabels(
            [f"{r['slice']} (n={r['examples']})" for r in rows],
            fontsize=8,
            rotation=30,
            ha="right",
        )
        shown = [v for c in ax.containers for v in c.datavalues if np.isfinite(v)]
        low = min([0.5, *shown])  # a slice below chance stays visible
        ax.set(ylabel="ROC AUC", title=f"ROC AUC by {name}", ylim=(max(low - 0.05, 0.0), 1.0))
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
        out.append((f"ROC AUC by {name}", html.png(fig)))

    if history:
        fig, ax = plt.subplots(figsize=(5, 4.2))
        for key in ("auc", "val_auc", "loss", "val_loss"):
            if key in history:
                ax.plot(
                    range(1, len(history[key]) + 1),
                    history[key],
                    label=key,
                    ls="-" if key.startswith("val") else ":",
                )
        ax.set(xlabel="epoch", title="Training history")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
        out.append(("Training history", html.png(fig)))
    return out


def _has(rows: list[dict[str, Any]], model: str) -> bool:
    return model == "candidate" or any(f"{model}_roc_auc" in r for r in rows)


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
) -> str:
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
        baseline=baseline,
        slices=slices or {},
        calibration=calibration,
        metric_names=METRIC_NAMES,
    )
