"""Keras models built from config: raw strings in, probability out, no serving-side code."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from components.train.config import CharCNNConfig, NgramBagConfig


@keras.saving.register_keras_serializable(package="retrain")
class CharEncoder(keras.layers.Layer):
    """Raw UTF-8 strings -> fixed-length code point ids (0 = padding, vocab_size-1 = rare char)."""

    def __init__(
        self, max_chars: int, vocab_size: int, lowercase: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.max_chars = max_chars
        self.vocab_size = vocab_size
        self.lowercase = lowercase

    def call(self, text: tf.Tensor) -> tf.Tensor:
        text = tf.reshape(text, [-1])
        if self.lowercase:
            text = tf.strings.lower(text, encoding="utf-8")
        chars = tf.strings.unicode_decode(text, "UTF-8", errors="replace", replacement_char=0xFFFD)
        chars = chars[:, : self.max_chars]
        rare = self.vocab_size - 1
        ids = tf.where(chars < rare - 1, chars + 1, tf.cast(rare, chars.dtype))
        return ids.to_tensor(default_value=0, shape=[None, self.max_chars])

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return (input_shape[0], self.max_chars)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "max_chars": self.max_chars,
            "vocab_size": self.vocab_size,
            "lowercase": self.lowercase,
        }


def build_char_cnn(cfg: CharCNNConfig, max_chars: int) -> keras.Model:
    text = keras.Input(shape=(), dtype="string", name="text")
    ids = CharEncoder(max_chars, cfg.vocab_size, cfg.lowercase, name="char_encoder")(text)
    x = keras.layers.Embedding(cfg.vocab_size, cfg.embedding_dim, name="char_embedding")(ids)
    pooled = []
    for width in cfg.kernel_sizes:
        conv = keras.layers.Conv1D(cfg.filters, width, activation="relu", name=f"conv_w{width}")(x)
        pooled.append(keras.layers.GlobalMaxPooling1D(name=f"maxpool_w{width}")(conv))
    x = pooled[0] if len(pooled) == 1 else keras.layers.Concatenate(name="concat")(pooled)
    x = keras.layers.Dropout(cfg.dropout, name="dropout")(x)
    x = keras.layers.Dense(cfg.dense_units, activation="relu", name="dense")(x)
    prob = keras.layers.Dense(1, activation="sigmoid", name="probability")(x)
    return keras.Model(text, prob, name="char_cnn")


@keras.saving.register_keras_serializable(package="retrain")
class MaskedMean(keras.layers.Layer):
    """Mean of the embeddings of the non-padding ids; zeros for a text with none (an empty
    text must score, not give NaN)."""

    def call(self, embedded: tf.Tensor, ids: tf.Tensor) -> tf.Tensor:
        mask = tf.cast(tf.not_equal(ids, 0), embedded.dtype)[:, :, None]
        total = tf.reduce_sum(embedded * mask, axis=1)
        count = tf.reduce_sum(mask, axis=1)
        return tf.math.divide_no_nan(total, count)


def build_ngram_bag(cfg: NgramBagConfig, train_texts: tf.data.Dataset) -> keras.Model:
    """The vocabulary is adapted on `train_texts` (strings) before the model is built."""
    vectorize = keras.layers.TextVectorization(
        max_tokens=cfg.max_tokens,
        ngrams=cfg.ngrams,
        output_mode="int",
        output_sequence_length=cfg.sequence_length,
        name="ngrams",
    )
    vectorize.adapt(train_texts)
    text = keras.Input(shape=(), dtype="string", name="text")
    ids = vectorize(text)
    embedded = keras.layers.Embedding(cfg.max_tokens, cfg.embedding_dim, name="ngram_embedding")(
        ids
    )
    x = MaskedMean(name="mean")(embedded, ids)
    x = keras.layers.Dropout(cfg.dropout, name="dropout")(x)
    prob = keras.layers.Dense(1, activation="sigmoid", name="probability")(x)
    return keras.Model(text, prob, name="ngram_bag")


def build_model(
    cfg: CharCNNConfig | NgramBagConfig, max_chars: int, train_texts: tf.data.Dataset
) -> keras.Model:
    if isinstance(cfg, NgramBagConfig):
        return build_ngram_bag(cfg, train_texts)
    return build_char_cnn(cfg, max_chars)
