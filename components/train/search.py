"""Hyperparameter search with Optuna over the config's `train.search.space`.

    python -m components.train.search --dataset DIR --config YAML --output DIR [--trials N]

Each trial trains on the train split and is scored on the eval split (never on test) with the
config's values replaced at the space's dotted paths; Optuna's TPE sampler is seeded with
`train.seed`, so a rerun proposes the same trials. With `train.search.families` (e.g.
`[gbt, neural]`) the model family is one more categorical dimension, `family`, each family
tried once first in the order listed: a trial of the trees takes the space's `gbt.*` paths, a
neural trial the others. With
`train.search.time_budget_s` no trial starts once that many seconds have passed (the one under
way finishes), whatever `trials` says. The output folder gets `search.json` (every
trial, the best) and `best_config.yaml` (the config file with the best trial's train section),
which the retraining DAG takes as its `config`. On a cluster the same space runs as a Katib
Experiment (`scripts/katib_experiment.py`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from components.common import fs
from components.common.cli import run_cli
from components.common.config import load_section, load_yaml
from components.common.errors import ConfigError
from components.train.config import ParamSpace, TrainConfig
from components.train.trees import GbtConfig

FAMILIES = ("neural", "gbt")

log = logging.getLogger(__name__)


def suggest(trial: Any, space: dict[str, ParamSpace]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for path, dim in sorted(space.items()):
        if dim.type == "categorical":
            values[path] = trial.suggest_categorical(path, dim.choices)
        elif dim.type == "int":
            values[path] = trial.suggest_int(
                path, int(dim.low or 0), int(dim.high or 0), log=dim.log
            )
        else:
            values[path] = trial.suggest_float(path, dim.low, dim.high, log=dim.log)
    return values


def families(cfg: TrainConfig) -> list[str]:
    """The families a search chooses among: train.search.families, else train.family alone."""
    search = cfg.search
    chosen = list(getattr(search, "families", None) or [getattr(cfg, "family", "neural")])
    unknown = sorted(set(chosen) - set(FAMILIES))
    if unknown or len(set(chosen)) != len(chosen):
        raise ConfigError(
            f"train.search.families: {chosen}; give each of {list(FAMILIES)} at most once"
        )
    return chosen


def family_space(space: dict[str, ParamSpace], family: str) -> dict[str, ParamSpace]:
    """The space's dimensions a trial of `family` takes: `gbt.*` paths for the trees, the others
    for the neural model."""
    return {p: d for p, d in space.items() if p.startswith("gbt.") == (family == "gbt")}


def trial_config(cfg: TrainConfig, family: str, values: dict[str, Any]) -> TrainConfig:
    """`cfg` with the trial's family and values set (validated again)."""
    fields = type(cfg).model_fields
    if "gbt" in fields and "family" in fields:
        return cfg.with_overrides({**values, "family": family})
    # Until TrainConfig declares `family` and `gbt`: the gbt values are set on the GbtConfig
    # carried as an attribute, the rest through with_overrides.
    gbt_values = {p.split(".", 1)[1]: v for p, v in values.items() if p.startswith("gbt.")}
    base = cfg.with_overrides({p: v for p, v in values.items() if not p.startswith("gbt.")})
    gbt = getattr(cfg, "gbt", None) or GbtConfig()
    gbt = GbtConfig.model_validate({**gbt.model_dump(), **gbt_values})
    built = type(base).model_construct(**{k: getattr(base, k) for k in fields})
    object.__setattr__(built, "gbt", gbt)
    object.__setattr__(built, "family", family)
    return built


def run_search(dataset_dir: str, cfg: TrainConfig, trials: int | None = None) -> dict[str, Any]:
    """Run the study; {metric, direction, best: {trial, value}, best_params, best_family,
    trials: [...], elapsed_s, stopped_by}."""
    import optuna

    search = cfg.search
    if search is None:
        raise ConfigError("the train section has no search: add train.search.space")
    choices = families(cfg)
    for path in search.space:  # a typo fails now, not after the first trial
        if path.startswith("gbt."):
            if "gbt" not in choices:
                raise ConfigError(
                    f"train.search.space: {path} is a setting of the trees; add gbt to "
                    "train.search.families or remove it"
                )
            field = path.split(".", 1)[1]
            if field not in GbtConfig.model_fields:
                raise ConfigError(
                    f"train.search.space: {path}: no such setting; the trees have "
                    f"{sorted(GbtConfig.model_fields)}"
                )
        else:
            cfg.with_overrides({path: _probe(cfg, path)})
    budget = getattr(search, "time_budget_s", None)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction=search.direction, sampler=optuna.samplers.TPESampler(seed=cfg.seed)
    )
    fixed = {"epochs": search.epochs} if search.epochs else {}
    if len(choices) > 1:
        # Every family is tried once first (in the order listed), so a short budget compares
        # them before TPE narrows the search.
        for family in choices:
            study.enqueue_trial({"family": family})

    def objective(trial: Any) -> float:
        many = len(choices) > 1
        family = trial.suggest_categorical("family", choices) if many else choices[0]
        values = suggest(trial, family_space(search.space, family))
        trial_cfg = trial_config(cfg, family, {**values, **fixed})
        started = time.monotonic()
        if family == "gbt":
            from components.train.trees import train_gbt

            best = train_gbt(dataset_dir, trial_cfg, None)
        else:
            from components.train.trainer import train

            with tempfile.TemporaryDirectory() as scratch:
                best = train(dataset_dir, trial_cfg, None, str(Path(scratch) / "checkpoints"))
        if search.metric not in best:
            raise ConfigError(
                f"train.search.metric {search.metric!r} is not a {family} training metric; "
                f"have {sorted(best)}"
            )
        value = float(best[search.metric])
        trial.set_user_attr("family", family)
        trial.set_user_attr("seconds", round(time.monotonic() - started, 2))
        log.info(
            "trial %d (%s): %s = %.4f with %s", trial.number, family, search.metric, value, values
        )
        return value

    n_trials = trials or search.trials
    start = time.monotonic()
    study.optimize(objective, n_trials=n_trials, timeout=budget)
    elapsed = time.monotonic() - start
    best_trial = study.best_trial
    done = len(study.trials)
    stopped_by = "trials" if done >= n_trials else "time_budget_s"
    log.info(
        "search: %d trials in %.1f s (stopped by %s); best trial %d: %s %s = %.4f",
        done,
        elapsed,
        stopped_by,
        best_trial.number,
        best_trial.user_attrs["family"],
        search.metric,
        study.best_value,
    )
    return {
        "metric": search.metric,
        "direction": search.direction,
        "best": {"trial": best_trial.number, "value": study.best_value},
        "best_params": {"family": best_trial.user_attrs["family"], **best_trial.params},
        "best_family": best_trial.user_attrs["family"],
        "families": choices,
        "time_budget_s": budget,
        "elapsed_s": round(elapsed, 2),
        "stopped_by": stopped_by,
        "trials": [
            {
                "trial": t.number,
                "value": t.value,
                "family": t.user_attrs.get("family"),
                "seconds": t.user_attrs.get("seconds"),
                "params": t.params,
                "state": t.state.name,
            }
            for t in study.trials
        ],
    }


def _probe(cfg: TrainConfig, path: str) -> Any:
    """The current value at a dotted path (so a path check leaves the config as it is)."""
    node: Any = cfg.model_dump()
    for key in path.split("."):
        try:
            node = node[int(key)] if isinstance(node, list) else node[key]
        except (KeyError, IndexError, ValueError):
            raise ConfigError(f"train.search.space: {path}: no such setting") from None
    return node


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m components.train.search",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dataset", required=True, help="dataset folder (train/, eval/ shards)")
    parser.add_argument("--config", required=True, help="pipeline config YAML (train.search)")
    parser.add_argument("--output", required=True, type=Path, help="folder to create")
    parser.add_argument("--trials", type=int, default=None, help="override train.search.trials")
    return parser.parse_args(argv)


def _body(argv: Sequence[str] | None) -> int:
    args = parse_args(argv)
    cfg = load_section(args.config, "train", TrainConfig)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    result = run_search(args.dataset, cfg, args.trials)
    params = dict(result["best_params"])
    family = params.pop("family")
    best_cfg = trial_config(cfg, family, params)
    whole = load_yaml(args.config)
    whole["train"] = best_cfg.model_dump(mode="json")
    if "family" not in whole["train"] and family != "neural":  # until TrainConfig has them
        gbt: GbtConfig = getattr(best_cfg, "gbt")  # noqa: B009
        whole["train"] |= {"family": family, "gbt": gbt.model_dump(mode="json")}
    with fs.staged_dir(args.output) as stage:
        fs.write_json_atomic(stage / "search.json", {**result, "config": args.config})
        fs.write_text_atomic(
            stage / "best_config.yaml",
            f"# {args.config} with the best of {len(result['trials'])} search trials "
            f"({result['best_family']}, {result['metric']} {result['best']['value']:.4f} on eval)\n"
            + yaml.safe_dump(whole, sort_keys=False),
        )
    print(json.dumps({"output": str(args.output), **result["best"], **result["best_params"]}))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("search", _body, argv)


if __name__ == "__main__":
    raise SystemExit(main())
