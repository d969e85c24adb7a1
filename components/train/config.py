"""The train section of the pipeline config, validated before any TensorFlow import."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag

from components.common.config import Strict


class CharCNNConfig(Strict):
    """Character CNN: embeddings, parallel convolutions of several widths, max-pool, dense head."""

    kind: Literal["char_cnn"] = "char_cnn"
    vocab_size: int = Field(default=260, ge=8, description="code points below this keep an id")
    embedding_dim: int = Field(default=32, gt=0)
    filters: int = Field(default=128, gt=0)
    kernel_sizes: list[int] = Field(default=[2, 3, 4, 5], min_length=1)
    dense_units: int = Field(default=64, gt=0)
    dropout: float = Field(default=0.5, ge=0, lt=1)
    lowercase: bool = True


class NgramBagConfig(Strict):
    """fastText-style bag of word n-grams: a vocabulary of word 1..`ngrams`-grams learned from
    the train split (kept inside the model, so serving takes raw text), embeddings averaged over
    the text, dropout, a logistic head."""

    kind: Literal["ngram_bag"] = "ngram_bag"
    ngrams: int = Field(default=2, ge=1, le=3)
    max_tokens: int = Field(default=60000, ge=100, description="vocabulary size, OOV included")
    sequence_length: int = Field(default=128, gt=0, description="n-grams kept per text")
    embedding_dim: int = Field(default=64, gt=0)
    dropout: float = Field(default=0.3, ge=0, lt=1)


def _model_kind(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("kind", "char_cnn"))  # the char CNN unless the config says
    return str(getattr(value, "kind", "char_cnn"))


ModelConfig = Annotated[
    Annotated[CharCNNConfig, Tag("char_cnn")] | Annotated[NgramBagConfig, Tag("ngram_bag")],
    Discriminator(_model_kind),
]


class OptimizerConfig(Strict):
    name: Literal["adam", "sgd", "rmsprop"] = "adam"
    learning_rate: float = Field(default=1e-3, gt=0)


class EarlyStoppingConfig(Strict):
    monitor: str = "val_auc"
    patience: int = Field(default=3, ge=1)


class TrainConfig(Strict):
    label: str = "label"
    text_feature: str = "text"
    max_chars: int = Field(default=256, gt=0)
    model: ModelConfig = CharCNNConfig()
    optimizer: OptimizerConfig = OptimizerConfig()
    batch_size: int = Field(default=64, gt=0)
    epochs: int = Field(default=10, gt=0)
    early_stopping: EarlyStoppingConfig | None = EarlyStoppingConfig()
    seed: int = 42
    shuffle_buffer: int = Field(default=20000, gt=0)
