"""The train section of the pipeline config, validated before any TensorFlow import.

A model is declared, not coded: its inputs by kind (text, categorical, numeric), each with its
encoder; a head over their concatenation; optimizer and schedule; the sampler for imbalanced
labels; and the hyperparameter search space.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, model_validator

from components.common.config import Strict


class CharCNNConfig(Strict):
    """Character CNN: embeddings, parallel convolutions of several widths, max-pool, a dense
    layer. Its output is the text's vector, fed to the head."""

    kind: Literal["char_cnn"] = "char_cnn"
    max_chars: int = Field(default=256, gt=0, description="characters kept per text")
    vocab_size: int = Field(default=260, ge=8, description="code points below this keep an id")
    embedding_dim: int = Field(default=32, gt=0)
    filters: int = Field(default=128, gt=0)
    kernel_sizes: list[int] = Field(default=[2, 3, 4, 5], min_length=1)
    dense_units: int = Field(default=64, gt=0)
    dropout: float = Field(default=0.5, ge=0, lt=1)
    lowercase: bool = True


class NgramBagConfig(Strict):
    """fastText-style bag of word n-grams: a vocabulary of word 1..`ngrams`-grams learned from
    the train split (kept inside the model, so serving takes raw text), embedded and averaged
    over the text (`mode: mean`), or as a TF-IDF-weighted bag projected to `embedding_dim`
    (`mode: tf_idf`, the same low-rank linear map without the sequence cut-off)."""

    kind: Literal["ngram_bag"] = "ngram_bag"
    mode: Literal["mean", "tf_idf"] = "mean"
    split: Literal["word", "character"] = Field(
        default="word", description="n-grams of words, or of characters (spaces included)"
    )
    ngrams: int = Field(default=2, ge=1, le=6)
    max_tokens: int = Field(default=60000, ge=100, description="vocabulary size, OOV included")
    sequence_length: int = Field(default=128, gt=0, description="n-grams kept per text (mean)")
    embedding_dim: int = Field(default=64, gt=0)
    dropout: float = Field(default=0.3, ge=0, lt=1)
    l2: float = Field(default=0.0, ge=0, description="L2 penalty of the projection (tf_idf)")


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

    name: str
    kind: Literal["text"]
    encoder: TextEncoder | list[TextEncoder] = CharCNNConfig()

    def encoders(self) -> list[CharCNNConfig | NgramBagConfig]:
        return list(self.encoder) if isinstance(self.encoder, list) else [self.encoder]


class CategoricalInput(Strict):
    """A string (or int) feature embedded through a vocabulary taken from the dataset step's
    statistics of the train split; values not in it share `oov_buckets` hashed ids."""

    name: str
    kind: Literal["categorical"]
    embedding_dim: int = Field(default=8, gt=0)
    oov_buckets: int = Field(default=1, ge=1)
    min_count: int = Field(default=1, ge=1, description="values seen fewer times are OOV")


class NumericInput(Strict):
    """A number, normalised with the train split's mean and standard deviation, or bucketised
    at explicit boundaries and embedded. A missing value is read as the train mean."""

    name: str
    kind: Literal["numeric"]
    transform: Literal["normalize", "bucketize"] = "normalize"
    log1p: bool = Field(default=False, description="log(1 + x) first (heavy-tailed counts)")
    boundaries: list[float] | None = None
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


class HeadConfig(Strict):
    """Dense layers over the concatenated inputs, then one sigmoid unit."""

    hidden_units: list[int] = []
    dropout: float = Field(default=0.0, ge=0, lt=1)


class ScheduleConfig(Strict):
    """Learning-rate schedule over the whole run: constant, or cosine decay to `final_fraction`
    of the rate, after `warmup_epochs` of linear warm-up."""

    kind: Literal["constant", "cosine"] = "constant"
    warmup_epochs: float = Field(default=0.0, ge=0)
    final_fraction: float = Field(default=0.0, ge=0, le=1)


class OptimizerConfig(Strict):
    name: Literal["adam", "adamw", "sgd", "rmsprop"] = "adam"
    learning_rate: float = Field(default=1e-3, gt=0)
    schedule: ScheduleConfig = ScheduleConfig()


class EarlyStoppingConfig(Strict):
    monitor: str = "val_auc"
    patience: int = Field(default=3, ge=1)


class SamplerConfig(Strict):
    """Imbalanced labels. `anneal`: each epoch draws positives and negatives at a ratio that
    starts at `start_ratio` (positives per negative; 1 = balanced) and moves linearly to the
    natural ratio over `anneal_epochs`, then stays there. `class_weight`: the natural stream,
    each class weighted inversely to its frequency. `natural`: neither. Evaluation (validation
    and test) is always on the natural distribution."""

    kind: Literal["natural", "anneal", "class_weight"] = "natural"
    start_ratio: float = Field(default=1.0, gt=0)
    anneal_epochs: int = Field(default=5, ge=1)


class ParamSpace(Strict):
    """One dimension of the search: a float or int range (log scale optional) or choices."""

    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: list[Any] | None = None

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

    metric: str = "val_auc"
    direction: Literal["maximize", "minimize"] = "maximize"
    trials: int = Field(default=10, ge=1)
    parallel_trials: int = Field(default=1, ge=1, description="Katib parallelTrialCount")
    epochs: int | None = Field(default=None, gt=0, description="epochs per trial (default: all)")
    space: dict[str, ParamSpace] = Field(min_length=1)


class TrainConfig(Strict):
    label: str = "label"
    inputs: list[InputConfig] = Field(min_length=1)
    head: HeadConfig = HeadConfig()
    optimizer: OptimizerConfig = OptimizerConfig()
    batch_size: int = Field(default=64, gt=0)
    epochs: int = Field(default=10, gt=0)
    early_stopping: EarlyStoppingConfig | None = EarlyStoppingConfig()
    sampler: SamplerConfig = SamplerConfig()
    seed: int = 42
    shuffle_buffer: int = Field(default=20000, gt=0)
    search: SearchConfig | None = None

    @model_validator(mode="after")
    def _unique_inputs(self) -> TrainConfig:
        names = [i.name for i in self.inputs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"inputs named more than once: {dupes}")
        if self.label in names:
            raise ValueError(f"the label {self.label!r} cannot also be an input")
        return self

    def with_overrides(self, values: dict[str, Any]) -> TrainConfig:
        """A copy with dotted-path values set (`optimizer.learning_rate: 3e-4`,
        `inputs.0.encoder.dropout: 0.4`), validated again: how search trials are made."""
        data = self.model_dump()
        for path, value in values.items():
            node: Any = data
            keys = path.split(".")
            for key in keys[:-1]:
                node = node[int(key)] if isinstance(node, list) else node[key]
            last = keys[-1]
            if isinstance(node, list):
                node[int(last)] = value
            elif last not in node:
                raise KeyError(f"{path}: no such setting in the train section")
            else:
                node[last] = value
        return TrainConfig.model_validate(data)
