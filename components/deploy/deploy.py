"""Publish a blessed model into the registry as the challenger (or the first champion), and write
the KServe InferenceService rendered from the registry's pointers (components.common.kserve).

The pointers are read once, before the publish, and every move expects them as read: of two
deploys racing, one wins and the other fails retryably (exit 75) with no pointer moved and no
manifest or record written; its rerun finds its own publish (same content) and reads again.
A model that computes what the champion, the challenger or a rolled-back version computes (the
same model digest, components/common/model_digest.py) is refused (exit 2) before anything is
written; each version's metadata keeps its digest."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

from components.common import fs
from components.common.artifacts import DeployRecord, TrainedModel
from components.common.checks import check_percent, safe_name
from components.common.errors import InputDataError, PublishError
from components.common.kserve import write_manifest
from components.common.model import ModelConfig
from components.common.model_digest import model_digest
from components.common.registry import Registry
from components.common.times import compact_stamp
from components.deploy.config import DeployConfig

log = logging.getLogger(__name__)


def version_id(digest: str, now: dt.datetime | None = None) -> str:
    """A new version's id: the publish time and the model's content hash."""
    return f"v{compact_stamp(now)}-{digest[:8]}"


def deploy(
    model_dir: Path,
    evaluation: dict[str, Any],
    model: ModelConfig,
    cfg: DeployConfig,
    registry_root: str,
    canary_percent: float,
    manifest_out: Path,
    version: str | None = None,
) -> DeployRecord:
    """Publish the model in `model_dir` if `evaluation` blessed it, move the pointers as the
    rollout says and write the InferenceService to `manifest_out`; the deploy record."""
    canary_percent = check_percent(canary_percent, "--canary-percent")
    if version is not None:
        safe_name(version, "--version")
    blessing = evaluation.get("blessing", {})
    if blessing.get("blessed") is not True:
        raise PublishError(
            "the evaluation did not bless this model "
            f"({'; '.join(blessing.get('reasons', ['no blessing recorded']))}); "
            "refusing to publish"
        )
    saved_model = model_dir / TrainedModel.SAVED_MODEL
    if not (saved_model / "saved_model.pb").is_file():
        raise InputDataError(f"{saved_model}: no saved_model.pb; expected the train step's output")

    registry = Registry(registry_root, model.name)
    champion_doc, challenger_doc = registry.read("champion"), registry.read("challenger")
    champion = registry.live("champion", champion_doc)
    challenger = registry.live("challenger", challenger_doc)
    computes = model_digest(saved_model)
    # Defence in depth behind evaluate's gate: the champion's twin, the challenger's or a
    # rolled-back version's is never published, whatever the evaluation said.
    twins = registry.twins(computes, champion=champion, challenger=challenger)
    if twins:
        raise PublishError(
            f"{saved_model}: refusing to publish a pointless experiment: {'; '.join(twins)}"
        )
    digest = fs.tree_sha256(saved_model)
    version = version or version_id(digest)
    metadata = {
        "version": version,
        "content_sha256": digest,
        "model_digest": computes,
        "model_name": model.name,
        "metrics": evaluation.get("candidate")
        or {k: v for k, v in evaluation.items() if k != "blessing"},
        "blessing": blessing,
        "champion_at_publish": champion["version"] if champion else None,
        "source_model": str(model_dir),
    }
    # What the model was trained on, for later drift checks.
    stats = model_dir / TrainedModel.DATASET_STATS
    extras = {TrainedModel.DATASET_STATS: stats} if stats.is_file() else {}
    uri = registry.publish(saved_model, version, metadata, extras)
    reason = "blessed: " + "; ".join(blessing.get("reasons", []))
    if champion is None or cfg.rollout == "replace":
        role = "champion"
        registry.move_champion(version, reason, expect=champion)
        if challenger is not None:
            registry.move("challenger", None, f"champion replaced by {version}", expect=challenger)
    else:
        role = "challenger"
        registry.start_challenger(
            version,
            canary_percent,
            reason,
            expect=challenger,
            champion=champion,
        )
    manifest = write_manifest(model, cfg, registry, manifest_out)
    log.info(
        "version %s published at %s as %s%s",
        version,
        uri,
        role,
        f" with {canary_percent}% of units" if role == "challenger" else "",
    )
    return {
        "version": version,
        "uri": uri,
        "role": role,
        "previous": champion["version"] if champion else None,
        "serving_uri": registry.serving_uri(version),
        "manifest": str(manifest_out),
        "storage_uri": manifest["spec"]["predictor"]["model"]["storageUri"],
        "traffic_percent": canary_percent if role == "challenger" else 100.0,
    }


def run(
    model_dir: Path,
    metrics: str,
    config_uri: str,
    registry_root: str,
    canary_percent: float,
    manifest_out: Path,
    record_out: Path | None = None,
    version: str | None = None,
    executor_input: dict[str, Any] | None = None,
) -> DeployRecord:
    """The deploy step: `deploy` with the config's model and deploy sections and the evaluation
    at `metrics`; the record also written to `record_out` and as the KFP record artifact."""
    from components.common import kfp_io
    from components.common.config import load_section
    from components.common.model import load_model

    model = load_model(config_uri)  # first: it names a config still in the old layout
    cfg = load_section(config_uri, "deploy", DeployConfig, optional=True)
    result = deploy(
        model_dir,
        fs.read_json(metrics),
        model,
        cfg,
        registry_root,
        canary_percent,
        manifest_out,
        version,
    )
    if record_out:
        fs.write_json_atomic(record_out, result)
    kfp_io.write_executor_output(
        executor_input,
        {"record": {k: v for k, v in result.items() if k in ("version", "uri", "previous")}},
    )
    return result
