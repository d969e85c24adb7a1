"""Hyperparameter search with Optuna over the config's `train.search.space`.

    python -m components.train.search --dataset DIR --config YAML --output DIR [--trials N]

Each trial trains on the train split and is scored on the eval split (never on test) with the
config's values replaced at the space's dotted paths; Optuna's TPE sampler is seeded with
`train.seed`, so a rerun proposes the same trials. The output folder gets `search.json` (every
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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from components.common import fs
from components.common.cli import run_cli
from components.common.config import load_section, load_yaml
from components.common.errors import ConfigError
from components.train.config import ParamSpace, TrainConfig

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


def run_search(dataset_dir: str, cfg: TrainConfig, trials: int | None = None) -> dict[str, Any]:
    """Run the study; {metric, direction, best: {value, params}, trials: [...]}."""
    import optuna

    from components.train.trainer import train

    search = cfg.search
    if search is None:
        raise ConfigError("the train section has no search: add train.search.space")
    for path in search.space:  # a typo fails now, not after the first trial
        cfg.with_overrides({path: _probe(cfg, path)})
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction=search.direction, sampler=optuna.samplers.TPESampler(seed=cfg.seed)
    )
    fixed = {"epochs": search.epochs} if search.epochs else {}

    def objective(trial: Any) -> float:
        values = suggest(trial, search.space)
        trial_cfg = cfg.with_overrides({**values, **fixed})
        with tempfile.TemporaryDirectory() as scratch:
            best = train(dataset_dir, trial_cfg, None, str(Path(scratch) / "checkpoints"))
        if search.metric not in best:
            raise ConfigError(
                f"train.search.metric {search.metric!r} is not a training metric; "
                f"have {sorted(best)}"
            )
        value = float(best[search.metric])
        log.info("trial %d: %s = %.4f with %s", trial.number, search.metric, value, values)
        return value

    study.optimize(objective, n_trials=trials or search.trials)
    return {
        "metric": search.metric,
        "direction": search.direction,
        "best": {"trial": study.best_trial.number, "value": study.best_value},
        "best_params": study.best_params,
        "trials": [
            {"trial": t.number, "value": t.value, "params": t.params, "state": t.state.name}
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
    best_cfg = cfg.with_overrides(result["best_params"])
    whole = load_yaml(args.config)
    whole["train"] = best_cfg.model_dump(mode="json")
    with fs.staged_dir(args.output) as stage:
        fs.write_json_atomic(stage / "search.json", {**result, "config": args.config})
        fs.write_text_atomic(
            stage / "best_config.yaml",
            f"# {args.config} with the best of {len(result['trials'])} search trials "
            f"({result['metric']} {result['best']['value']:.4f} on eval)\n"
            + yaml.safe_dump(whole, sort_keys=False),
        )
    print(json.dumps({"output": str(args.output), **result["best"], **result["best_params"]}))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("search", _body, argv)


if __name__ == "__main__":
    raise SystemExit(main())
