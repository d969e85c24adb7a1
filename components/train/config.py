"""The train section of the pipeline config, validated before any TensorFlow import.

A model is declared, not coded: its inputs by kind (text, categorical, numeric), each with its
encoder (default: every feature of the dataset's kinds); a head (wide-and-deep, deep or linear);
optimizer and schedule; the sampler for imbalanced labels; the model family (neural or
gradient-boosted trees); and the hyperparameter search space.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, model_validator

from components.common.config import Strict
from components.train.trees import GbtConfig


class CharCNNConfig(Strict):
    """Character CNN: embeddings, parallel convolutions of several widths, max-pool, a dense
    layer. Its output is the text's vector, fed to the head."""

    kind: Literal["char_cnn"] = Field(default="char_cnn", description="this encoder")
    max_chars: int = Field(default=256, gt=0, description="characters kept per text")
    vocab_size: int = Field(default=260, ge=8, description="code points below this keep an id")
    embedding_dim: int = Field(default=32, gt=0, description="character embedding width")
    filters: int = Field(default=128, gt=0, description="filters per convolution width")
    kernel_sizes: list[int] = Field(
        default=[2, 3, 4, 5], min_length=1, description="convolution widths, in characters"
    )
    dense_units: int = Field(default=64, gt=0, description="units of the dense layer after pooling")
    dropout: float = Field(default=0.5, ge=0, lt=1, description="dropout before the dense layer")
    lowercase: bool = Field(default=True, description="lowercase the text first")


class NgramBagConfig(Strict):
    """fastText-style bag of word n-grams: a vocabulary of word 1..`ngrams`-grams learned from
    the train split (kept inside the model, so serving takes raw text), embedded and averaged
    over the text (`mode: mean`), or as a weighted bag: TF-IDF scaled to unit length
    (`mode: tf_idf`), or each n-gram's presence times its naive-Bayes log-count ratio in the
    train split (`mode: nb`, NBSVM's features). A bag enters the deep part projected to
    `embedding_dim` (the same low-rank linear map as `mean`, without the sequence cut-off)
    and a linear or wide_deep head's linear part with one weight per n-gram."""

    kind: Literal["ngram_bag"] = Field(default="ngram_bag", description="this encoder")
    mode: Literal["mean", "tf_idf", "nb"] = Field(
        default="mean",
        description="mean: average of n-gram embeddings; tf_idf: unit-length TF-IDF bag; nb: "
        "presence weighted by the naive-Bayes log-count ratio of the train labels",
    )
    split: Literal["word", "character"] = Field(
        default="word", description="n-grams of words, or of characters (spaces included)"
    )
    ngrams: int = Field(default=2, ge=1, le=6, description="longest n-gram (1..6)")
    max_tokens: int = Field(default=60000, ge=100, description="vocabulary size, OOV included")
    sequence_length: int = Field(default=128, gt=0, description="n-grams kept per text (mean)")
    embedding_dim: int = Field(
        default=64, gt=0, description="output width (embedding or projection)"
    )
    dropout: float = Field(
        default=0.3,
        ge=0,
        lt=1,
        description="dropout on the encoding (tf_idf, nb: on the bag's terms, deep part only)",
    )
    l2: float = Field(default=0.0, ge=0, description="L2 penalty of the projection (tf_idf, nb)")


def _kind(default: str) -> Any:
    def pick(value: Any) -> str:
        if isinstance(value, dict):
            return str(value.get("kind", default))
        return str(getattr(value, "kind", default))

    return pick


TextEncoder = Annotated[
    Annotated[CharCNNConfig, Tag("char_cnn")] | Annotated[NgramBagConfig, Tag("ngram_bag")],
    Discriminator(
        _kind("char_cnn"),
        custom_error_type="encoder_kind",
        custom_error_message="encoder kind must be char_cnn or ngram_bag",
    ),
]


class TextInput(Strict):
    """A free-text string feature, encoded by a character CNN or an n-gram bag."""

    name: str = Field(description="the dataset feature")
    kind: Literal["text"] = Field(description="text")
    encoder: TextEncoder | list[TextEncoder] = Field(
        default=CharCNNConfig(), description="one encoder or a list of them, concatenated"
    )

    def encoders(self) -> list[CharCNNConfig | NgramBagConfig]:
        return list(self.encoder) if isinstance(self.encoder, list) else [self.encoder]


class CategoricalInput(Strict):
    """A string (or int) feature embedded through a vocabulary taken from the dataset step's
    statistics of the train split; values not in it share `oov_buckets` hashed ids."""

    name: str = Field(description="the dataset feature (string or int)")
    kind: Literal["categorical"] = Field(description="categorical")
    embedding_dim: int = Field(default=8, gt=0, description="embedding width (deep part)")
    oov_buckets: int = Field(
        default=1,
        ge=1,
        description="hashed ids shared by values not in the vocabulary (and missing values)",
    )
    min_count: int = Field(default=1, ge=1, description="values seen fewer times are OOV")


class NumericInput(Strict):
    """A number, normalised with the train split's mean and standard deviation, or bucketised
    at explicit boundaries and embedded. A missing value is read as the train mean."""

    name: str = Field(description="the dataset feature (int or float)")
    kind: Literal["numeric"] = Field(description="numeric")
    transform: Literal["normalize", "bucketize"] = Field(
        default="normalize",
        description="normalize: (x - mean) / std; bucketize: embed the bucket between boundaries",
    )
    log1p: bool = Field(default=False, description="log(1 + x) first (heavy-tailed counts)")
    boundaries: list[float] | None = Field(
        default=None, description="bucket boundaries, strictly increasing (bucketize only)"
    )
    embedding_dim: int = Field(default=4, gt=0, description="bucketize only")

    @model_validator(mode="after")
    def _boundaries(self) -> NumericInput:
        if self.transform == "bucketize":
            if not self.boundaries:
                raise ValueError(f"input {self.name!r}: bucketize needs boundaries: [b1, b2, ...]")
            if list(self.boundaries) != sorted(set(self.boundaries)):
                raise ValueError(f"input {self.name!r}: boundaries must increase strictly")
        elif self.boundaries:
            raise ValueError(f"input {self.name!r}: boundaries are for transform: bucketize")
        return self


InputConfig = Annotated[
    Annotated[TextInput, Tag("text")]
    | Annotated[CategoricalInput, Tag("categorical")]
    | Annotated[NumericInput, Tag("numeric")],
    Discriminator(
        _kind(""),
        custom_error_type="input_kind",
        custom_error_message="input kind must be text, categorical or numeric",
    ),
]


HeadKind = Literal["wide_deep", "deep", "linear"]
# The deep part's layers when `hidden_units` is not given: for tables, two layers; over text
# encoders (which end in their own projection), none.
TABLE_HIDDEN_UNITS = [64, 32]


class HeadConfig(Strict):
    """How the encoded inputs become one probability. `deep`: dense layers over the concatenated
    encodings (embeddings, normalised numbers, text vectors), then one logit. `linear`: one
    weight per one-hot value of each categorical input's vocabulary (OOV included), per
    normalised number and per bucket of each number (its train-split deciles, or its declared
    boundaries), one per n-gram of each tf_idf or nb bag, plus a linear map of the other text
    encodings: logistic regression. `wide_deep`: the
    linear logit and the deep logit summed (TensorFlow's DNNLinearCombinedClassifier), so the
    linear solution is inside the model family. Default kind: wide_deep when no input is text,
    else deep; default hidden units: [64, 32] when no input is text, else none."""

    kind: HeadKind | None = Field(
        default=None, description="wide_deep, deep or linear (default: see above)"
    )
    hidden_units: list[int] | None = Field(
        default=None, description="the deep part's dense layers (default: see above)"
    )
    dropout: float = Field(default=0.0, ge=0, lt=1, description="after each hidden layer")
    linear_l2: float = Field(
        default=0.0, ge=0, description="L2 penalty of the linear part's weights"
    )

    @model_validator(mode="after")
    def _units(self) -> HeadConfig:
        if self.hidden_units is not None and any(u <= 0 for u in self.hidden_units):
            raise ValueError(f"head.hidden_units must be positive, got {self.hidden_units}")
        return self

    def resolved(self, has_text: bool) -> HeadConfig:
        """This head with its defaults chosen for the inputs (text or not)."""
        kind = self.kind or ("deep" if has_text else "wide_deep")
        units = self.hidden_units
        if units is None:
            units = [] if has_text or kind == "linear" else list(TABLE_HIDDEN_UNITS)
        return self.model_copy(update={"kind": kind, "hidden_units": units})


class ScheduleConfig(Strict):
    """Learning-rate schedule over the whole run: constant, or cosine decay to `final_fraction`
    of the rate, after `warmup_epochs` of linear warm-up."""

    kind: Literal["constant", "cosine"] = Field(
        default="constant", description="constant or cosine decay"
    )
    warmup_epochs: float = Field(default=0.0, ge=0, description="epochs of linear warm-up from 0")
    final_fraction: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="the rate at the end, as a fraction of learning_rate (cosine)",
    )


class OptimizerConfig(Strict):
    name: Literal["adam", "adamw", "sgd", "rmsprop"] = Field(
        default="adam", description="the Keras optimizer"
    )
    learning_rate: float = Field(default=2e-3, gt=0, description="the (peak) learning rate")
    schedule: ScheduleConfig = Field(
        default=ScheduleConfig(), description="the learning-rate schedule"
    )


class EarlyStoppingConfig(Strict):
    monitor: str = Field(
        default="val_auc", description="the epoch metric watched (min for a *loss, max otherwise)"
    )
    patience: int = Field(
        default=3,
        ge=1,
        description="epochs without a gain before stopping; the best epoch's weights are restored",
    )


class SamplerConfig(Strict):
    """Imbalanced labels. `anneal`: each epoch draws positives and negatives at a ratio that
    starts at `start_ratio` (positives per negative; 1 = balanced) and moves linearly to the
    natural ratio over `anneal_epochs`, then stays there. `class_weight`: the natural stream,
    each class weighted inversely to its frequency. `natural`: neither. Evaluation (validation
    and test) is always on the natural distribution."""

    kind: Literal["natural", "anneal", "class_weight"] = Field(
        default="natural",
        description="natural, anneal or class_weight (see the README on calibration)",
    )
    start_ratio: float = Field(
        default=1.0, gt=0, description="positives per negative in the first epoch (anneal)"
    )
    anneal_epochs: int = Field(
        default=5, ge=1, description="epochs to return to the natural ratio (anneal)"
    )


class ParamSpace(Strict):
    """One dimension of the search: a float or int range (log scale optional) or choices."""

    type: Literal["float", "int", "categorical"] = Field(description="the dimension's type")
    low: float | None = Field(default=None, description="lowest value (float, int)")
    high: float | None = Field(default=None, description="highest value (float, int)")
    log: bool = Field(default=False, description="sample on a log scale")
    choices: list[Any] | None = Field(default=None, description="the values (categorical)")

    @model_validator(mode="after")
    def _complete(self) -> ParamSpace:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical dimension needs choices: [...]")
        elif self.low is None or self.high is None or self.low >= self.high:
            raise ValueError(f"a {self.type} dimension needs low < high")
        return self


class SearchConfig(Strict):
    """Hyperparameter search. Keys of `space` are dotted paths into this train section
    (`optimizer.learning_rate`, `inputs.0.encoder.dropout`, `head.dropout`). Trials run with
    Optuna locally (`python -m components.train.search`) or as a Katib Experiment on a cluster;
    each trial trains on the train split and is scored on the eval split, never on test."""

    metric: str = Field(
        default="val_auc", description="the trial metric (an epoch metric of the eval split)"
    )
    direction: Literal["maximize", "minimize"] = Field(
        default="maximize", description="maximize or minimize the metric"
    )
    trials: int = Field(default=10, ge=1, description="trials to run")
    parallel_trials: int = Field(default=1, ge=1, description="Katib parallelTrialCount")
    epochs: int | None = Field(default=None, gt=0, description="epochs per trial (default: all)")
    space: dict[str, ParamSpace] = Field(
        min_length=1, description="dotted train paths -> their ranges"
    )
    # Added by the trees/search helper (issue 22, point 3): read by components/train/search.py.
    time_budget_s: float | None = Field(
        default=None,
        gt=0,
        description="no trial starts once this many seconds have passed (the one under way "
        "finishes); null: only `trials` bounds the search",
    )
    families: list[Literal["neural", "gbt"]] | None = Field(
        default=None,
        min_length=1,
        description="model families to choose among: one more dimension, `family`, each "
        "family tried once first in this order; `gbt.*` space paths apply to gbt trials, the "
        "others to neural ones; null: train.family alone",
    )


def categorical_embedding_dim(vocabulary_size: int) -> int:
    """A default embedding width for a vocabulary of `vocabulary_size` values (fastai's rule of
    thumb, capped at 16): 2 values -> 2, 10 -> 6, 40 -> 13, 100+ -> 16."""
    return max(1, min(16, round(1.6 * vocabulary_size**0.56)))


class TrainConfig(Strict):
    """The train section. Every setting has a default, so a config may leave it out: inputs
    from the dataset's kinds, a wide-and-deep head for tables, 30 epochs of 256 examples at a
    learning rate of 2e-3, stopped early on val_auc with the best epoch's weights kept."""

    label: str = Field(default="label", description="the label feature of the dataset")
    family: Literal["neural", "gbt"] = Field(
        default="neural",
        description="neural: the Keras model below; gbt: gradient-boosted trees (the `gbt` "
        "settings; components/train/trees.py)",
    )
    inputs: list[InputConfig] | None = Field(
        default=None,
        description="the model's inputs; default: every feature of the dataset's schema kinds "
        "(categorical embedded, numeric normalised, text as a TF-IDF n-gram bag; ids left out)",
    )
    head: HeadConfig = Field(default=HeadConfig(), description="the head over the encoded inputs")
    optimizer: OptimizerConfig = Field(
        default=OptimizerConfig(), description="optimizer and learning-rate schedule"
    )
    batch_size: int = Field(default=256, gt=0, description="examples per step")
    epochs: int = Field(default=30, gt=0, description="epochs at most")
    early_stopping: EarlyStoppingConfig | None = Field(
        default=EarlyStoppingConfig(), description="early stopping (null: train every epoch)"
    )
    sampler: SamplerConfig = Field(default=SamplerConfig(), description="imbalanced labels")
    seed: int = Field(default=42, description="seed of initialisation, shuffling and sampling")
    shuffle_buffer: int = Field(default=20000, gt=0, description="examples in the shuffle buffer")
    backup_seconds: float = Field(
        default=30.0,
        ge=0,
        description="back the training up (weights, epoch) at the end of an epoch at least this "
        "many seconds after the last backup; a killed or preempted step resumes from it "
        "(0: after every epoch)",
    )
    search: SearchConfig | None = Field(
        default=None, description="hyperparameter search (null: none)"
    )
    gbt: GbtConfig = Field(
        default=GbtConfig(), description="gradient-boosted trees settings (family: gbt)"
    )

    @model_validator(mode="after")
    def _unique_inputs(self) -> TrainConfig:
        if self.inputs is None:
            return self
        if not self.inputs:
            raise ValueError(
                "inputs is empty; list at least one, or omit inputs to take every feature of "
                "the dataset's kinds"
            )
        names = [i.name for i in self.inputs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"inputs named more than once: {dupes}")
        if self.label in names:
            raise ValueError(f"the label {self.label!r} cannot also be an input")
        return self

    def input_specs(self) -> list[TextInput | CategoricalInput | NumericInput]:
        """The inputs, resolved: call after `with_default_inputs` (the trainer does)."""
        if self.inputs is None:
            raise ValueError("train.inputs is not resolved; call with_default_inputs first")
        return list(self.inputs)

    def with_default_inputs(
        self, kinds: dict[str, str], types: dict[str, str], stats: dict[str, Any]
    ) -> tuple[TrainConfig, list[str]]:
        """This config with `inputs` (when omitted) built from the dataset's `kinds` (model
        inputs: no ids, no label), their dataset `types` and the train split's feature `stats`,
        and the head's defaults chosen; and a note per feature left out, with the reason."""
        skipped: list[str] = []
        inputs: list[Any] = list(self.inputs) if self.inputs is not None else []
        if self.inputs is None:
            for name, kind in sorted(kinds.items()):
                if name == self.label:
                    continue
                dtype = types.get(name)
                feature = stats.get(name, {})
                if kind == "text" and dtype == "string":
                    inputs.append(
                        TextInput(name=name, kind="text", encoder=NgramBagConfig(mode="tf_idf"))
                    )
                elif kind == "categorical" and dtype in ("string", "int"):
                    vocab = feature.get("vocabulary")
                    if not vocab:
                        skipped.append(
                            f"{name}: categorical but the statistics keep no vocabulary "
                            f"({feature.get('distinct', '?')} distinct values); declare it "
                            "kind: text or numeric to use it"
                        )
                        continue
                    inputs.append(
                        CategoricalInput(
                            name=name,
                            kind="categorical",
                            embedding_dim=categorical_embedding_dim(len(vocab) + 1),
                        )
                    )
                elif kind in ("numeric", "categorical") and dtype in ("int", "float"):
                    if feature.get("mean") is None:
                        skipped.append(f"{name}: numeric with no value in the train split")
                        continue
                    inputs.append(NumericInput(name=name, kind="numeric"))
                else:
                    skipped.append(f"{name}: kind {kind} does not fit its type {dtype}")
            if not inputs:
                raise ValueError(
                    f"no model input in the dataset's kinds {kinds} ({'; '.join(skipped)}); "
                    "declare train.inputs"
                )
        has_text = any(isinstance(i, TextInput) for i in inputs)
        resolved = self.model_copy(update={"inputs": inputs, "head": self.head.resolved(has_text)})
        return resolved, skipped

    def with_overrides(self, values: dict[str, Any]) -> TrainConfig:
        """A copy with dotted-path values set (`optimizer.learning_rate: 3e-4`,
        `inputs.0.encoder.dropout: 0.4`), validated again: how search trials are made."""
        data = self.model_dump()
        for path, value in values.items():
            node: Any = data
            keys = path.split(".")
            for key in keys[:-1]:
                if node is None:
                    raise KeyError(f"{path}: {key!r} is not set in the train section (a default)")
                node = node[int(key)] if isinstance(node, list) else node[key]
            if node is None:
                raise KeyError(f"{path}: not set in the train section (a default)")
            last = keys[-1]
            if isinstance(node, list):
                node[int(last)] = value
            elif last not in node:
                raise KeyError(f"{path}: no such setting in the train section")
            else:
                node[last] = value
        return TrainConfig.model_validate(data)
