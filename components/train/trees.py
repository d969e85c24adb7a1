"""Gradient-boosted trees for tables (`train.family: gbt`): trained with YDF on the train split,
early-stopped on the eval split, exported as a SavedModel of plain TensorFlow ops.

YDF's own TensorFlow export needs a custom op library (`ydf-tf`) wherever the SavedModel is
loaded; here the trees are written into the graph as arrays (per node: feature, threshold,
children, leaf value, category masks) walked with gathers, so the serving path, the evaluate
step and the model server load it with TensorFlow alone, through the same signature as the
neural model: raw inputs typed by the dataset schema, {'probability': [N]}.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from components.common import fs
from components.common.artifacts import Dataset, TrainedModel
from components.common.config import Strict
from components.common.errors import ConfigError, InputDataError

if TYPE_CHECKING:
    from components.train.config import TrainConfig

log = logging.getLogger(__name__)

SERVING_SIGNATURE = "serving_default"  # the same as components.train.trainer's
SERVING_OUTPUT = "probability"
GBT_KINDS = ("categorical", "numeric")


class GbtConfig(Strict):
    """Gradient-boosted trees (YDF's GRADIENT_BOOSTED_TREES learner, binary log-loss)."""

    num_trees: int = Field(
        default=300, ge=1, le=5000, description="most trees trained (early stopping may keep fewer)"
    )
    max_depth: int = Field(default=6, ge=1, le=16, description="depth of each tree (root = 1)")
    shrinkage: float = Field(
        default=0.1, gt=0, le=1, description="learning rate: each tree's output is scaled by it"
    )
    min_examples: int = Field(default=5, ge=1, description="fewest training examples in a leaf")
    subsample: float = Field(
        default=1.0, gt=0, le=1, description="share of the train split each tree is grown on"
    )
    l2_regularization: float = Field(default=0.0, ge=0, description="L2 penalty on the leaf values")
    min_vocab_frequency: int = Field(
        default=5,
        ge=1,
        description="categorical values seen fewer times in the train split share the "
        "out-of-vocabulary branch",
    )
    early_stopping_patience: int | None = Field(
        default=30,
        ge=1,
        description="stop once the eval split's log-loss has not improved for this many trees "
        "and keep the best number of trees; null trains all num_trees",
    )
    num_threads: int = Field(
        default=2, ge=1, description="training threads (the result does not depend on it)"
    )


# --- data ------------------------------------------------------------------------------------


def gbt_inputs(dataset_dir: str, cfg: TrainConfig) -> dict[str, str]:
    """{feature: categorical|numeric}: the config's inputs if it lists any, else every model
    input of the dataset's schema (features.model_inputs); a text input is not for trees."""
    from components.common.features import model_inputs

    listed = list(getattr(cfg, "inputs", None) or [])
    if listed:
        chosen = {i.name: i.kind for i in listed}
        text = sorted(n for n, k in chosen.items() if k not in GBT_KINDS)
        if text:
            raise ConfigError(
                f"train.inputs: {text} are text inputs, which gradient-boosted trees do not "
                "take; remove them from train.inputs or use train.family: neural"
            )
        return chosen
    found = model_inputs(dataset_dir, exclude=(cfg.label,))
    skipped = sorted(n for n, k in found.items() if k not in GBT_KINDS)
    if skipped:
        log.warning("gbt: text features %s are not inputs of the trees", skipped)
    chosen = {n: k for n, k in found.items() if k in GBT_KINDS}
    if not chosen:
        raise InputDataError(
            f"{Dataset.schema(dataset_dir)}: no categorical or numeric feature for the trees "
            f"(kinds: {found}); list train.inputs or use train.family: neural"
        )
    return chosen


def _ydf_columns(
    columns: Mapping[str, Any], kinds: Mapping[str, str], types: Mapping[str, str]
) -> dict[str, Any]:
    """The split's columns as YDF takes them: categoricals as str ('' is missing, as in the
    exported graph), numbers as float32 (NaN is missing)."""
    import numpy as np

    out: dict[str, Any] = {}
    for name, kind in kinds.items():
        values = columns[name]
        if kind == "categorical":
            if types[name] == "string":
                out[name] = np.asarray(
                    [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values],
                    dtype=object,
                )
            else:
                out[name] = np.asarray([str(v) for v in np.asarray(values)], dtype=object)
        else:
            if types[name] == "string":
                raise InputDataError(
                    f"feature {name!r} is numeric in train.inputs but a string in the dataset "
                    "schema; declare it kind: categorical"
                )
            out[name] = np.asarray(values, dtype=np.float32)
    return out


# --- export ----------------------------------------------------------------------------------


class _Forest:
    """A binary GBT as flat node arrays (every tree's nodes in preorder)."""

    def __init__(self, model: Any, kinds: Mapping[str, str]) -> None:
        from ydf.model.tree import condition as cond_lib
        from ydf.model.tree import node as node_lib

        spec = model.data_spec()
        self.numeric = [n for n, k in kinds.items() if k == "numeric"]
        self.categorical = [n for n, k in kinds.items() if k == "categorical"]
        column_of = {c.name: i for i, c in enumerate(spec.columns)}
        slot = {column_of[n]: i for i, n in enumerate(self.numeric)}
        slot |= {column_of[n]: i for i, n in enumerate(self.categorical)}
        # Per categorical input: its vocabulary (value -> YDF index; index 0 is out-of-vocabulary).
        self.vocab: dict[str, dict[str, int]] = {}
        for name in self.categorical:
            items = spec.columns[column_of[name]].categorical.items
            self.vocab[name] = {k: v.index for k, v in items.items() if v.index > 0}
        vocab_size = {
            column_of[n]: spec.columns[column_of[n]].categorical.number_of_unique_values
            for n in self.categorical
        }
        classes = [str(c) for c in model.label_classes()]
        if len(classes) != 2:
            raise InputDataError(f"gbt: the label has classes {classes}; binary labels only")
        # YDF predicts the probability of its second class; the signature's is of label 1.
        self.sign = 1.0 if classes[1] == "1" else -1.0
        self.initial = float(model.initial_predictions()[0])

        self.is_leaf: list[bool] = []
        self.is_cat: list[bool] = []
        self.feature: list[int] = []
        self.threshold: list[float] = []
        self.missing: list[bool] = []
        self.pos: list[int] = []
        self.neg: list[int] = []
        self.leaf: list[float] = []
        self.mask_offset: list[int] = []
        self.masks: list[bool] = []
        self.roots: list[int] = []
        self.depth = 0

        def add(node: Any, depth: int) -> int:
            idx = len(self.is_leaf)
            # A leaf points at itself, so walking past it stays there.
            self.is_leaf.append(True)
            self.is_cat.append(False)
            self.feature.append(0)
            self.threshold.append(0.0)
            self.missing.append(False)
            self.pos.append(idx)
            self.neg.append(idx)
            self.leaf.append(0.0)
            self.mask_offset.append(0)
            if isinstance(node, node_lib.Leaf):
                self.leaf[idx] = float(node.value.value)
                self.depth = max(self.depth, depth)
                return idx
            c = node.condition
            self.is_leaf[idx] = False
            self.missing[idx] = bool(c.missing)
            if isinstance(c, cond_lib.NumericalHigherThanCondition):
                self.feature[idx] = slot[c.attribute]
                self.threshold[idx] = float(c.threshold)
            elif isinstance(c, cond_lib.CategoricalIsInCondition):
                self.is_cat[idx] = True
                self.feature[idx] = slot[c.attribute]
                self.mask_offset[idx] = len(self.masks)
                positive = set(int(i) for i in c.mask)
                self.masks.extend(i in positive for i in range(vocab_size[c.attribute]))
            else:
                raise InputDataError(f"gbt: the trees use a {type(c).__name__}, not exportable")
            self.pos[idx] = add(node.pos_child, depth + 1)
            self.neg[idx] = add(node.neg_child, depth + 1)
            return idx

        for tree in model.get_all_trees():
            self.roots.append(add(tree.root, 0))
        if not self.masks:
            self.masks.append(False)


def export_gbt_saved_model(
    model: Any, kinds: Mapping[str, str], types: Mapping[str, str], path: Path
) -> None:
    """SavedModel of plain TensorFlow ops computing `model`'s probability of label 1; its serving
    signature takes one [N] tensor per input, typed as the dataset schema says (the neural
    model's signature), and returns {'probability': [N]}."""
    import tensorflow as tf

    from components.common.tfdata import TF_TYPES

    forest = _Forest(model, kinds)

    class GbtModule(tf.Module):
        def __init__(self) -> None:
            super().__init__(name="gbt")
            self.is_leaf = tf.constant(forest.is_leaf, tf.bool)
            self.is_cat = tf.constant(forest.is_cat, tf.bool)
            self.feature = tf.constant(forest.feature, tf.int32)
            self.threshold = tf.constant(forest.threshold, tf.float32)
            self.missing = tf.constant(forest.missing, tf.bool)
            self.pos = tf.constant(forest.pos, tf.int32)
            self.neg = tf.constant(forest.neg, tf.int32)
            self.leaf = tf.constant(forest.leaf, tf.float32)
            self.mask_offset = tf.constant(forest.mask_offset, tf.int32)
            self.masks = tf.constant(forest.masks, tf.bool)
            self.roots = tf.constant(forest.roots, tf.int32)
            self.tables = {}
            for name in forest.categorical:
                vocab = forest.vocab[name]
                keys = sorted(vocab)
                init = tf.lookup.KeyValueTensorInitializer(
                    tf.constant(keys or [""], tf.string),
                    tf.constant([vocab[k] for k in keys] or [-1], tf.int32),
                )
                # Out of vocabulary -> 0 (YDF's <OOD> item); "" is missing (-1).
                self.tables[name] = tf.lookup.StaticHashTable(init, default_value=0)

        def probability(self, features: dict[str, Any]) -> Any:
            n = tf.shape(next(iter(features.values())))[0]
            num = [tf.cast(features[c], tf.float32) for c in forest.numeric]
            x_num = tf.stack(num, axis=1) if num else tf.zeros([n, 1], tf.float32)
            cats = []
            for c in forest.categorical:
                v = features[c]
                v = v if v.dtype == tf.string else tf.strings.as_string(v)
                cats.append(tf.where(tf.equal(v, ""), -1, self.tables[c].lookup(v)))
            x_cat = tf.stack(cats, axis=1) if cats else tf.zeros([n, 1], tf.int32)
            node = tf.tile(self.roots[None, :], [n, 1])
            for _ in range(forest.depth):
                feat = tf.gather(self.feature, node)
                value = tf.gather(x_num, tf.minimum(feat, x_num.shape[1] - 1), batch_dims=1)
                code = tf.gather(x_cat, tf.minimum(feat, x_cat.shape[1] - 1), batch_dims=1)
                missing = tf.gather(self.missing, node)
                num_cond = tf.where(
                    tf.math.is_nan(value), missing, value >= tf.gather(self.threshold, node)
                )
                in_mask = tf.gather(
                    self.masks, tf.gather(self.mask_offset, node) + tf.maximum(code, 0)
                )
                cat_cond = tf.where(code < 0, missing, in_mask)
                cond = tf.where(tf.gather(self.is_cat, node), cat_cond, num_cond)
                step = tf.where(cond, tf.gather(self.pos, node), tf.gather(self.neg, node))
                node = tf.where(tf.gather(self.is_leaf, node), node, step)
            logit = forest.initial + tf.reduce_sum(tf.gather(self.leaf, node), axis=1)
            return tf.sigmoid(forest.sign * logit)

    module = GbtModule()
    specs = {n: tf.TensorSpec([None], getattr(tf, TF_TYPES[k]), name=n) for n, k in types.items()}

    @tf.function(input_signature=[specs])
    def serve(features: dict[str, Any]) -> dict[str, Any]:
        return {SERVING_OUTPUT: module.probability(features)}

    module.serve = serve
    tf.saved_model.save(module, str(path), signatures={SERVING_SIGNATURE: serve})


# --- training --------------------------------------------------------------------------------


def _metrics(labels: Any, scores: Any, prefix: str) -> dict[str, float]:
    """Log-loss, ROC AUC and accuracy at 0.5, as the neural trainer's Keras metrics name them."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    y = np.asarray(labels, dtype=np.float64)
    p = np.clip(np.asarray(scores, dtype=np.float64), 1e-7, 1 - 1e-7)
    loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    auc = float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")
    acc = float(np.mean((p > 0.5) == (y > 0.5)))
    return {
        f"{prefix}loss": round(loss, 6),
        f"{prefix}auc": round(auc, 6),
        f"{prefix}accuracy": round(acc, 6),
    }


def _history(model: Any) -> dict[str, list[float]]:
    """Per number of trees: the eval split's log-loss and accuracy from YDF's training logs."""
    hist: dict[str, list[float]] = {"num_trees": [], "val_loss": [], "val_accuracy": []}
    for entry in model.training_logs():
        ev = entry.evaluation
        if ev is None or ev.loss is None:
            continue
        hist["num_trees"].append(float(entry.iteration))
        hist["val_loss"].append(round(float(ev.loss), 6))
        hist["val_accuracy"].append(round(float(ev.accuracy or math.nan), 6))
    return hist


def fit_gbt(dataset_dir: str, cfg: TrainConfig) -> tuple[Any, dict[str, str], dict[str, str], dict]:
    """Train the trees of `cfg.gbt` (seeded: the same data and config give the same trees);
    (YDF model, {input: kind}, {input: schema type}, metrics)."""
    import ydf

    from components.common.tfdata import feature_types, load_split

    gbt = getattr(cfg, "gbt", None) or GbtConfig()
    kinds = gbt_inputs(dataset_dir, cfg)
    types = feature_types(dataset_dir, list(kinds))
    train_cols, train_y = load_split(dataset_dir, "train", types, cfg.label)
    eval_cols, eval_y = load_split(dataset_dir, "eval", types, cfg.label)
    for split, y in (("train", train_y), ("eval", eval_y)):
        if len(y) == 0:
            raise InputDataError(f"{dataset_dir}: the {split} split is empty")
    if len(set(train_y.tolist())) != 2:
        raise InputDataError(f"{dataset_dir}: the train split has one class; the trees need both")
    if getattr(cfg.sampler, "kind", "natural") != "natural":
        log.info(
            "gbt: train.sampler %s is for the neural model; the trees see the natural split",
            cfg.sampler.kind,
        )
    train_ds = _ydf_columns(train_cols, kinds, types) | {cfg.label: train_y}
    eval_ds = _ydf_columns(eval_cols, kinds, types) | {cfg.label: eval_y}
    semantic = {"categorical": ydf.Semantic.CATEGORICAL, "numeric": ydf.Semantic.NUMERICAL}
    learner = ydf.GradientBoostedTreesLearner(
        label=cfg.label,
        task=ydf.Task.CLASSIFICATION,
        features=[ydf.Feature(n, semantic[k]) for n, k in kinds.items()],
        include_all_columns=False,
        num_trees=gbt.num_trees,
        max_depth=gbt.max_depth,
        shrinkage=gbt.shrinkage,
        min_examples=gbt.min_examples,
        subsample=gbt.subsample,
        l2_regularization=gbt.l2_regularization,
        min_vocab_frequency=gbt.min_vocab_frequency,
        early_stopping="LOSS_INCREASE" if gbt.early_stopping_patience else "NONE",
        early_stopping_num_trees_look_ahead=gbt.early_stopping_patience or 30,
        validation_ratio=0.0,
        random_seed=cfg.seed,
        num_threads=gbt.num_threads,
    )
    model = learner.train(train_ds, valid=eval_ds, verbose=0)
    best = _metrics(train_y, model.predict(train_ds), "")
    best |= _metrics(eval_y, model.predict(eval_ds), "val_")
    best["num_trees"] = int(model.num_trees())
    log.info(
        "gbt: %d trees, val_auc=%.4f val_loss=%.4f",
        best["num_trees"],
        best["val_auc"],
        best["val_loss"],
    )
    return model, kinds, types, best


def train_gbt(dataset_dir: str, cfg: TrainConfig, output: Path | None) -> dict:
    """Fit gradient-boosted trees of `cfg.gbt` on the train split (early-stopped on eval) and
    publish them to `output` in the neural trainer's layout (saved_model, history, train_config,
    metrics, dataset_stats, signature); the metrics dict (train and val_ loss/auc/accuracy,
    num_trees). `output=None` trains without exporting (a search trial)."""
    stats_uri = Dataset.stats(dataset_dir)
    if not fs.exists(stats_uri):
        raise InputDataError(f"{dataset_dir}: no {Dataset.STATS}; run the dataset step first")
    model, kinds, types, best = fit_gbt(dataset_dir, cfg)
    if output is None:
        return best
    with fs.staged_dir(output) as stage:
        export_gbt_saved_model(model, kinds, types, stage / TrainedModel.SAVED_MODEL)
        fs.write_json_atomic(stage / TrainedModel.HISTORY, _history(model))
        fs.write_json_atomic(stage / TrainedModel.TRAIN_CONFIG, cfg.model_dump())
        fs.write_json_atomic(stage / TrainedModel.METRICS, best)
        fs.write_json_atomic(stage / TrainedModel.DATASET_STATS, fs.read_json(stats_uri))
        import tensorflow as tf
        import ydf

        fs.write_json_atomic(
            stage / TrainedModel.SIGNATURE,
            {
                "signature": SERVING_SIGNATURE,
                "inputs": dict(types),
                "output": SERVING_OUTPUT,
                "tensorflow": tf.__version__,
                "family": "gbt",
                "ydf": ydf.__version__,
            },
        )
    log.info("exported %s (%s)", output / TrainedModel.SAVED_MODEL, json.dumps(best))
    return best
