"""One monitoring window: read the champion's training statistics, run the Beam job over the
window's request log and outcomes, turn its counts into per-version drift and quality figures,
decide the verdict (ok, drift, decay) with its reasons, and publish metrics.json, verdict.json,
the report and the job's files in one folder (staged, renamed whole)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from components.common import fs, kfp_io
from components.common.artifacts import Dataset, TrainedModel
from components.common.config import load_section, load_yaml
from components.common.errors import ConfigError, InputDataError
from components.common.model import load_model
from components.common.registry import Registry
from components.common.times import parse_utc, stamp
from components.monitor import drift
from components.monitor.config import MonitorConfig
from components.monitor.drift import MISSING, PREDICTION, PREDICTION_BINS, FeaturePlan

log = logging.getLogger(__name__)

OK, DRIFT, DECAY = "ok", "drift", "decay"
VERDICTS = (OK, DRIFT, DECAY)
METRICS = "metrics.json"
VERDICT = "verdict.json"
REPORT = "report.html"
TEXT_CHARS = 40.0  # as components.dataset.executor: a mostly unique string this long is text
UNIQUE_SHARE = 0.5  # as components.dataset.stats.mostly_unique
DOMAIN_MAX = 20


# ---- the plan: how each feature is binned, from the training statistics ----------------------


def training_features(stats: dict[str, Any], uri: str) -> dict[str, Any]:
    splits = stats.get("splits") or {}
    split = splits.get("train") or next(iter(splits.values()), None)
    if not isinstance(split, dict) or not isinstance(split.get("features"), dict):
        raise InputDataError(
            f"{uri}: no per-feature statistics under splits.train.features; expected the "
            "dataset step's stats.json"
        )
    return dict(split["features"])


def default_kind(dtype: str | None, stats: dict[str, Any]) -> str | None:
    """The kind a feature is monitored as (None: not known, not monitored): numbers are
    numeric; a string averaging TEXT_CHARS characters is text, another mostly unique one an id,
    the rest categorical (on their vocabulary or top values)."""
    if dtype in ("int", "float"):
        return "numeric"
    if dtype != "string":
        return None
    present = stats.get("count", 0) - stats.get("missing", 0)
    distinct = stats.get("distinct", 0)
    if (stats.get("mean") or 0.0) >= TEXT_CHARS:
        return "text"
    if present > 0 and distinct > DOMAIN_MAX and distinct >= UNIQUE_SHARE * present:
        return "id"
    return "categorical"


def plan_features(
    stats: dict[str, Any], uri: str, dtypes: dict[str, str], cfg: MonitorConfig
) -> tuple[dict[str, FeaturePlan], dict[str, str]]:
    """(plans of the monitored features, {feature: why not monitored})."""
    plans: dict[str, FeaturePlan] = {}
    skipped: dict[str, str] = {}
    for name, fstats in sorted(training_features(stats, uri).items()):
        if name == Dataset.LABEL:
            continue
        kind = cfg.features.get(name) or default_kind(dtypes.get(name), fstats)
        if kind is None:
            skipped[name] = "its type is not in the config's dataset.features; set monitor.features"
            continue
        if kind == "id":
            skipped[name] = "an id (mostly unique values): no distribution to compare"
            continue
        present = int(fstats.get("count", 0)) - int(fstats.get("missing", 0))
        if kind == "categorical":
            pairs = fstats.get("vocabulary") or fstats.get("top")
            if not pairs:
                skipped[name] = f"{uri}: its statistics hold no vocabulary or top values"
                continue
            categories, expected = drift.category_expected(pairs, present)
            plans[name] = FeaturePlan(name, kind, categories=categories, expected=expected)
            continue
        if not fstats.get("quantiles"):
            skipped[name] = f"{uri}: its statistics hold no quantiles"
            continue
        edges, expected = drift.quantile_expected(fstats["quantiles"])
        vocabulary = None
        if kind == "text" and isinstance(fstats.get("words"), dict):
            vocabulary = frozenset(str(w) for w, _ in fstats["words"].get("top", []))
        plans[name] = FeaturePlan(name, kind, edges=edges, expected=expected, vocabulary=vocabulary)
    return plans, skipped


def training_oov(fstats: dict[str, Any]) -> float:
    """The training texts' own OOV rate against their kept word list (0 when it is whole)."""
    words = fstats["words"]
    total = float(words.get("total") or 0)
    kept = sum(int(c) for _, c in words.get("top", []))
    return max(1.0 - kept / total, 0.0) if total else 0.0


# ---- the figures, from the job's counts --------------------------------------------------------


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _compare(
    plan_expected: Sequence[float], actual: Sequence[float], ordered: bool, eps: float
) -> dict:
    out = {
        "psi": drift.psi(plan_expected, drift.shares(actual).tolist(), eps),
        "js_distance": drift.js_distance(plan_expected, actual),
    }
    if ordered:
        out["ks_distance"] = drift.ks_binned(plan_expected, actual)
    return {k: round(v, 6) for k, v in out.items()}


def feature_figures(
    plan: FeaturePlan, buckets: dict[float, dict[str, int]], cfg: MonitorConfig
) -> dict[str, Any]:
    """One feature of one version: its bins, PSI and distances over the window and per bucket."""
    labels = plan.bin_labels()
    total: dict[str, int] = defaultdict(int)
    for counts in buckets.values():
        for b, n in counts.items():
            total[b] += n
    actual = [total.get(b, 0) for b in labels]
    present, missing = sum(actual), total.get(MISSING, 0)
    out: dict[str, Any] = {
        "kind": plan.kind,
        "measure": "length (characters)" if plan.kind == "text" else "value",
        "values": present,
        "missing_rate": round(missing / (present + missing), 6) if present + missing else None,
        "bins": [
            {"bin": b, "expected": round(e, 6), "actual": round(a / present, 6) if present else 0.0}
            for b, e, a in zip(labels, plan.expected, actual, strict=True)
        ],
    }
    ordered = plan.kind != "categorical"
    if present:
        out.update(_compare(list(plan.expected), actual, ordered, cfg.psi_epsilon))
    out["over_time"] = []
    for bucket, counts in sorted(buckets.items()):
        row = [counts.get(b, 0) for b in labels]
        if sum(row):
            out["over_time"].append(
                {"time": bucket, "values": sum(row)}
                | _compare(list(plan.expected), row, ordered, cfg.psi_epsilon)
            )
    return out


def text_oov(
    plan: FeaturePlan,
    fstats: dict[str, Any],
    words: dict[float, dict[int, dict[str, int]]],
    reference_end: float,
) -> dict[str, Any]:
    """The OOV rate of one text feature of one version. With the training word list (the stats'
    `words`): each bucket's share of words outside it, against the training texts' own share.
    Without: the words of one half of the reference period's requests (split by a hash of the
    request id) are the vocabulary; the other half's OOV rate is the baseline, the rest of the
    window's the figure (both against the same vocabulary, so equally large samples compare)."""
    merged: dict[float, dict[str, int]] = {}
    for bucket, halves in words.items():
        counts: dict[str, int] = defaultdict(int)
        for half in halves.values():
            for w, n in half.items():
                counts[w] += n
        merged[bucket] = counts
    if plan.vocabulary is not None:
        vocab: set[str] | frozenset[str] = plan.vocabulary
        baseline = training_oov(fstats)
        source = "the training texts' word list (dataset statistics)"
        measured = merged
    else:
        reference = {b: h for b, h in words.items() if b < reference_end}
        vocab = {w for h in reference.values() for w in h.get(0, {})}
        held_out: dict[str, int] = defaultdict(int)
        for h in reference.values():
            for w, n in h.get(1, {}).items():
                held_out[w] += n
        rate = drift.oov_rate(held_out, vocab) if vocab else None
        if rate is None:
            return {"source": "the window's reference period", "oov_rate": None}
        baseline = rate
        source = "the words of half of the window's reference period (no training word list)"
        measured = {b: c for b, c in merged.items() if b >= reference_end}
    current: dict[str, int] = defaultdict(int)
    for counts in measured.values():
        for w, n in counts.items():
            current[w] += n
    rate = drift.oov_rate(current, vocab)
    return {
        "source": source,
        "baseline_oov_rate": round(baseline, 6),
        "oov_rate": round(rate, 6) if rate is not None else None,
        "oov_rate_increase": round(rate - baseline, 6) if rate is not None else None,
        "vocabulary_words": len(vocab),
        "over_time": [
            {"time": b, "oov_rate": round(r, 6)}
            for b, c in sorted(merged.items())
            if (r := drift.oov_rate(c, vocab)) is not None
        ],
    }


def prediction_figures(
    buckets: dict[float, dict[str, int]], reference_end: float, cfg: MonitorConfig
) -> dict[str, Any]:
    """Predicted probabilities (10 bins of [0, 1]) of the window's first `reference_hours`
    against the rest of it, overall and per bucket (the registry keeps no test predictions)."""
    labels = [str(b) for b in range(PREDICTION_BINS)]

    def sums(which: list[float]) -> list[int]:
        return [sum(buckets[t].get(b, 0) for t in which) for b in labels]

    ref_buckets = sorted(t for t in buckets if t < reference_end)
    rest = sorted(t for t in buckets if t >= reference_end)
    reference, after = sums(ref_buckets), sums(rest)
    out: dict[str, Any] = {
        "baseline": f"the window's first {cfg.reference_hours:g} h",
        "reference_predictions": sum(reference),
        "predictions": sum(after),
        "reference_shares": [round(x, 6) for x in drift.shares(reference).tolist()],
        "shares": [round(x, 6) for x in drift.shares(after).tolist()],
    }
    if sum(reference) and sum(after):
        out.update(_compare(drift.shares(reference).tolist(), after, True, cfg.psi_epsilon))
        out["over_time"] = [
            {"time": t, "predictions": sum(sums([t]))}
            | _compare(drift.shares(reference).tolist(), sums([t]), True, cfg.psi_epsilon)
            for t in rest
        ]
    return out


def quality(
    rows: list[dict[str, Any]], predictions: int, cfg: MonitorConfig, test_metric: float | None
) -> dict[str, Any]:
    """Live quality of one version from its joined outcomes, with its interval."""
    level = cfg.confidence
    out: dict[str, Any] = {
        "metric": cfg.quality_metric,
        "outcome": cfg.outcome,
        "test": test_metric,
    }
    if cfg.outcome == "correct":  # no event: the prediction was not right
        n, right = predictions, sum(1 for r in rows if r["value"] > 0)
        out["outcomes"] = len(rows)
    else:
        n = len(rows)
        right = sum(1 for r in rows if (r["prediction"] >= 0.5) == (r["value"] >= 0.5))
        out["outcomes"] = n
    out["n"] = n
    if not n:
        return out
    out["outcome_rate"] = round(len([r for r in rows if r["value"] > 0]) / max(predictions, 1), 6)
    if cfg.quality_metric == "accuracy":
        lo, hi = drift.wilson(right, n, level)
        out.update(value=right / n, ci_low=lo, ci_high=hi, interval="Wilson")
    else:
        labels = [int(r["value"] >= 0.5) for r in rows]
        scores = [r["prediction"] for r in rows]
        auc = drift.roc_auc(labels, scores)
        ci = drift.bootstrap_auc(labels, scores, level) if auc is not None else None
        if auc is None or ci is None:
            out["note"] = "one label class only: no ROC AUC"
            return out
        out.update(value=auc, ci_low=ci[0], ci_high=ci[1], interval="bootstrap (500, seeded)")
    for k in ("value", "ci_low", "ci_high"):
        out[k] = round(out[k], 6)
    out["ci_level"] = level
    return out


def figures(
    stage: Path,
    plans: dict[str, FeaturePlan],
    train: dict[str, Any],
    cfg: MonitorConfig,
    start: float,
    test_metrics: dict[str, float | None],
) -> dict[str, Any]:
    """Per version: predictions, per-feature drift, text OOV, prediction drift, live quality."""
    from components.monitor import pipeline

    bins: dict[str, dict[str, dict[float, dict[str, int]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(dict))
    )
    for r in _jsonl(stage / pipeline.BINS):
        bins[r["version"]][r["feature"]][r["bucket"]][r["bin"]] = r["n"]
    words: dict[str, dict[str, dict[float, dict[int, dict[str, int]]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))
    )
    for r in _jsonl(stage / pipeline.WORDS):
        words[r["version"]][r["feature"]][r["bucket"]][r["half"]][r["word"]] = r["n"]
    joined: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in _jsonl(stage / pipeline.JOINED):
        joined[r["version"]].append(r)
    reference_end = start + cfg.reference_hours * 3600
    versions: dict[str, Any] = {}
    for version in sorted(bins):
        per = bins[version]
        predictions = sum(sum(c.values()) for c in per.get(PREDICTION, {}).values())
        features: dict[str, Any] = {}
        for name, plan in plans.items():
            features[name] = feature_figures(plan, per.get(name, {}), cfg)
            if plan.kind == "text":
                features[name]["oov"] = text_oov(
                    plan, train[name], words[version].get(name, {}), reference_end
                )
        versions[version] = {
            "predictions": predictions,
            "features": features,
            "prediction_drift": prediction_figures(per.get(PREDICTION, {}), reference_end, cfg),
            "quality": quality(joined[version], predictions, cfg, test_metrics.get(version)),
        }
    return versions


# ---- the verdict -------------------------------------------------------------------------------


def decide(versions: dict[str, Any], cfg: MonitorConfig) -> tuple[str, list[str], list[str]]:
    """(verdict, reasons, warnings). Decay (a version's live quality below its test metric
    by more than max_quality_drop, with confidence) outranks drift (a feature's or the
    predictions' PSI above psi_drift, or a text's OOV rate up by more than oov_rate_increase);
    figures of a version with fewer than min_requests predictions only warn."""
    decay: list[str] = []
    drifted: list[str] = []
    warnings: list[str] = []
    for version, v in sorted(versions.items()):
        n = v["predictions"]
        enough = n >= cfg.min_requests
        if not enough:
            warnings.append(
                f"version {version}: {n} predictions in the window, fewer than min_requests "
                f"{cfg.min_requests}: its figures are not acted on"
            )
        found: list[str] = []
        for name, f in v["features"].items():
            if "psi" in f and f["psi"] > cfg.psi_drift:
                found.append(
                    f"version {version}: feature '{name}' ({f['measure']}) PSI {f['psi']:.3f} "
                    f"> psi_drift {cfg.psi_drift} against the training statistics"
                )
            elif "psi" in f and f["psi"] > cfg.psi_warn:
                warnings.append(
                    f"version {version}: feature '{name}' PSI {f['psi']:.3f} > psi_warn "
                    f"{cfg.psi_warn}"
                )
            oov = f.get("oov") or {}
            if oov.get("oov_rate_increase") is not None and (
                oov["oov_rate_increase"] > cfg.oov_rate_increase
            ):
                found.append(
                    f"version {version}: feature '{name}' out-of-vocabulary rate "
                    f"{oov['oov_rate']:.1%} is {oov['oov_rate_increase']:.1%} above the "
                    f"baseline's {oov['baseline_oov_rate']:.1%} (oov_rate_increase "
                    f"{cfg.oov_rate_increase:.0%}; vocabulary: {oov['source']})"
                )
        p = v["prediction_drift"]
        if "psi" in p and p["psi"] > cfg.psi_drift:
            found.append(
                f"version {version}: predictions PSI {p['psi']:.3f} > psi_drift "
                f"{cfg.psi_drift} against {p['baseline']}"
            )
        (drifted if enough else warnings).extend(found)
        q = v["quality"]
        if q.get("value") is None or q.get("test") is None:
            continue
        floor = q["test"] - cfg.max_quality_drop
        if q["n"] >= cfg.min_outcomes and q["ci_high"] < floor:
            decay.append(
                f"version {version}: live {q['metric']} {q['value']:.3f} "
                f"({q['ci_level']:.0%} CI [{q['ci_low']:.3f}, {q['ci_high']:.3f}], "
                f"{q['n']} predictions) is below its test {q['metric']} {q['test']:.3f} "
                f"minus max_quality_drop {cfg.max_quality_drop} = {floor:.3f}"
            )
    if decay:
        return DECAY, decay + drifted, warnings
    if drifted:
        return DRIFT, drifted, warnings
    checked = sum(1 for v in versions.values() if v["predictions"] >= cfg.min_requests)
    return OK, [f"no drift or decay in {checked} version(s) with enough traffic"], warnings


# ---- the step ----------------------------------------------------------------------------------


def champion_stats(registry: Registry) -> tuple[str, str, dict[str, Any]]:
    pointer = registry.champion()
    if pointer is None:
        raise InputDataError(
            f"{registry.base}: no champion; the monitor compares serving traffic with the "
            "champion's training statistics, so deploy a model first"
        )
    uri = fs.join(registry.version_uri(pointer["version"]), TrainedModel.DATASET_STATS)
    if not fs.exists(uri):
        raise InputDataError(
            f"{uri}: champion {pointer['version']} has no {TrainedModel.DATASET_STATS}; "
            "deploy a version trained with the dataset statistics beside it"
        )
    return str(pointer["version"]), uri, fs.read_json(uri)


def monitor(
    requests_glob: str,
    outcomes_glob: str,
    config_uri: str,
    cfg: MonitorConfig,
    registry: Registry,
    window_end: dt.datetime,
    window_hours: float,
    output: Path,
    beam_args: list[str],
) -> dict[str, Any]:
    """Monitor the window ending at `window_end`; metrics and verdict published in `output`."""
    from components.monitor import pipeline, report

    if window_hours <= 0:
        raise ConfigError(f"--window-hours {window_hours}: must be positive")
    champion, stats_uri, stats = champion_stats(registry)
    dtypes = (load_yaml(config_uri).get("dataset") or {}).get("features") or {}
    plans, skipped = plan_features(stats, stats_uri, dict(dtypes), cfg)
    train = training_features(stats, stats_uri)
    end = window_end.timestamp()
    start = end - window_hours * 3600
    result: dict[str, Any] = {
        "model_name": registry.model_name,
        "champion": champion,
        "training_statistics": stats_uri,
        "window_start": stamp(dt.datetime.fromtimestamp(start, dt.UTC)),
        "window_end": stamp(window_end),
        "window_hours": window_hours,
        "monitored_utc": stamp(),
        "thresholds": cfg.model_dump(exclude={"features"}),
        "features": {name: plan.kind for name, plan in plans.items()},
        "not_monitored": skipped,
    }
    with fs.staged_dir(output) as stage:
        if not fs.match(requests_glob):
            counts: dict[str, int] = {}
            versions: dict[str, Any] = {}
        else:
            counts = pipeline.run(
                requests_glob,
                outcomes_glob if outcomes_glob and fs.match(outcomes_glob) else "",
                plans,
                start,
                end,
                cfg.bucket_minutes * 60,
                str(stage),
                beam_args,
            )
            versions = figures(
                stage,
                plans,
                train,
                cfg,
                start,
                {v: _test_metric(registry, v, cfg.quality_metric) for v in registry.versions()},
            )
        dead = _jsonl(stage / pipeline.DEAD_LETTER)
        verdict, reasons, warnings = decide(versions, cfg)
        if not versions:
            reasons = [
                f"no request of the window {result['window_start']} .. {result['window_end']}"
                f" in {requests_glob}: nothing to judge; is the server logging?"
            ]
        if dead:
            warnings.append(
                f"{len(dead)} malformed log line(s) in {pipeline.DEAD_LETTER}, e.g. "
                f"{dead[0]['reason']}"
            )
        result.update(counts=counts, dead_letters=len(dead), versions=versions)
        decision = {
            "verdict": verdict,
            "reasons": reasons,
            "warnings": warnings,
            "model_name": registry.model_name,
            "champion": champion,
            "window_end": result["window_end"],
            "window_hours": window_hours,
            "cooldown_hours": cfg.cooldown_hours,
        }
        result["verdict"] = decision
        fs.write_json_atomic(stage / METRICS, result)
        fs.write_json_atomic(stage / VERDICT, decision)
        fs.write_text_atomic(stage / REPORT, report.render(result))
    log.info("monitor: %s (%s)", verdict, "; ".join(reasons))
    return result


def _test_metric(registry: Registry, version: str, metric: str) -> float | None:
    value = (registry.metadata(version).get("metrics") or {}).get(metric)
    return float(value) if isinstance(value, int | float) else None


def metrics(result: dict[str, Any]) -> dict[str, float]:
    """Flat KFP metrics: counts, and the champion's (else the busiest version's) figures."""
    out: dict[str, float] = {
        "dead_letters": result.get("dead_letters", 0),
        "requests": result.get("counts", {}).get("requests", 0),
        "verdict_ok": float(result["verdict"]["verdict"] == OK),
    }
    versions = result.get("versions") or {}
    if not versions:
        return out
    version = (
        result["champion"]
        if result["champion"] in versions
        else max(versions, key=lambda v: versions[v]["predictions"])
    )
    v = versions[version]
    out["predictions"] = v["predictions"]
    for name, f in v["features"].items():
        for key in ("psi", "js_distance", "ks_distance"):
            if key in f:
                out[f"{name}_{key}"] = f[key]
        oov = f.get("oov") or {}
        if oov.get("oov_rate") is not None:
            out[f"{name}_oov_rate"] = oov["oov_rate"]
    if "psi" in v["prediction_drift"]:
        out["prediction_psi"] = v["prediction_drift"]["psi"]
    q = v["quality"]
    if q.get("value") is not None:
        out.update({f"live_{q['metric']}": q["value"], f"live_{q['metric']}_ci_low": q["ci_low"]})
    return out


def record_run(
    result: dict[str, Any],
    numbers: dict[str, float],
    cfg: MonitorConfig,
    tracking_uri: str,
    registry_root: str,
    output: Path,
) -> dict[str, str]:
    """The window as an MLflow run in the experiment `<model>-monitor`: window and thresholds
    as parameters, the figures as metrics, the verdict as a tag, verdict and report as files."""
    from components.common.tracking import log_mlflow_run, resolve_tracking

    tracking = resolve_tracking(tracking_uri, registry_root)
    if tracking is None:
        return {}
    params = {
        "champion": str(result["champion"]),
        "window_end": result["window_end"],
        "window_hours": str(result["window_hours"]),
        **{k: str(v) for k, v in cfg.model_dump().items()},
    }
    verdict = result["verdict"]
    run = log_mlflow_run(
        tracking,
        f"{result['model_name']}-monitor",
        f"monitor-{result['window_end']}",
        params,
        numbers,
        {"verdict": verdict["verdict"], "mlflow.note.content": "\n".join(verdict["reasons"])},
        {VERDICT: verdict},
        (output / REPORT,),
    )
    return {"mlflow_run_id": run["run_id"]}


def run(
    requests_glob: str,
    outcomes_glob: str,
    config_uri: str,
    registry_root: str,
    window_end: str,
    window_hours: float,
    output: Path,
    beam_args: list[str],
    *,
    report_out: Path | None = None,
    metrics_out: Path | None = None,
    verdict_out: Path | None = None,
    tracking_uri: str = "",
    executor_input: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, float], dict[str, str]]:
    """The monitor step: the window into `output`, the report copied, the MLflow run logged,
    the KFP metrics and the verdict word written; (result, metrics, run ids)."""
    cfg = load_section(config_uri, "monitor", MonitorConfig, optional=True)
    registry = Registry(registry_root, load_model(config_uri).name)
    try:
        end = parse_utc(window_end, "--window-end")
    except ValueError as err:
        raise ConfigError(str(err)) from None
    result = monitor(
        requests_glob,
        outcomes_glob,
        config_uri,
        cfg,
        registry,
        end,
        window_hours,
        output,
        beam_args,
    )
    if report_out:
        report_out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(output / REPORT, report_out)
    numbers = metrics(result)
    tracked = record_run(result, numbers, cfg, tracking_uri, registry_root, output)
    verdict = result["verdict"]["verdict"]
    if metrics_out:
        fs.write_json_atomic(metrics_out, numbers)
    if verdict_out:
        fs.write_text_atomic(verdict_out, verdict)
    kfp_io.write_executor_output(
        executor_input,
        {"metrics": numbers, "monitor": {"verdict": verdict}},
        {"verdict": verdict},
    )
    return result, numbers, tracked
