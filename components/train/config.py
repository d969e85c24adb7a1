"""The train section of the pipeline config, validated before any TensorFlow import."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

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
    model: CharCNNConfig = CharCNNConfig()
    optimizer: OptimizerConfig = OptimizerConfig()
    batch_size: int = Field(default=64, gt=0)
    epochs: int = Field(default=10, gt=0)
    early_stopping: EarlyStoppingConfig | None = EarlyStoppingConfig()
    seed: int = 42
    shuffle_buffer: int = Field(default=20000, gt=0)
