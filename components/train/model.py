"""Keras models built from config: raw features in, probability out, no serving-side code.

Every input's preprocessing is a layer of the model (character ids, n-gram vocabularies, the
categorical vocabularies from the dataset statistics, normalisation, bucket boundaries), so the
exported SavedModel takes raw records and training and serving cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import keras
import tensorflow as tf

from components.common.errors import InputDataError
from components.train.config import (
    CategoricalInput,
    CharCNNConfig,
    NgramBagConfig,
    NumericInput,
    TextInput,
    TrainConfig,
)


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


@keras.saving.register_keras_serializable(package="retrain")
class MaskedMean(keras.layers.Layer):
    """Mean of the embeddings of the non-padding ids; zeros for a text with none (an empty
    text must score, not give NaN)."""

    def call(self, embedded: tf.Tensor, ids: tf.Tensor) -> tf.Tensor:
        mask = tf.cast(tf.not_equal(ids, 0), embedded.dtype)[:, :, None]
        total = tf.reduce_sum(embedded * mask, axis=1)
        count = tf.reduce_sum(mask, axis=1)
        return tf.math.divide_no_nan(total, count)


@keras.saving.register_keras_serializable(package="retrain")
class Impute(keras.layers.Layer):
    """A number as float32 of shape [batch, 1]; NaN (a missing value) becomes `fill`."""

    def __init__(self, fill: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fill = fill

    def call(self, x: tf.Tensor) -> tf.Tensor:
        x = tf.reshape(tf.cast(x, tf.float32), [-1, 1])
        return tf.where(tf.math.is_nan(x), tf.constant(self.fill, tf.float32), x)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return (input_shape[0], 1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "fill": self.fill}


def _char_cnn(cfg: CharCNNConfig, text: Any, name: str) -> Any:
    ids = CharEncoder(cfg.max_chars, cfg.vocab_size, cfg.lowercase, name=f"{name}_chars")(text)
    x = keras.layers.Embedding(cfg.vocab_size, cfg.embedding_dim, name=f"{name}_embedding")(ids)
    pooled = []
    for width in cfg.kernel_sizes:
        conv = keras.layers.Conv1D(
            cfg.filters, width, activation="relu", name=f"{name}_conv_w{width}"
        )(x)
        pooled.append(keras.layers.GlobalMaxPooling1D(name=f"{name}_maxpool_w{width}")(conv))
    x = pooled[0] if len(pooled) == 1 else keras.layers.Concatenate(name=f"{name}_concat")(pooled)
    x = keras.layers.Dropout(cfg.dropout, name=f"{name}_dropout")(x)
    return keras.layers.Dense(cfg.dense_units, activation="relu", name=f"{name}_dense")(x)


def _ngram_bag(cfg: NgramBagConfig, text: Any, name: str, train_texts: Any) -> Any:
    tf_idf = cfg.mode == "tf_idf"
    vectorize = keras.layers.TextVectorization(
        max_tokens=cfg.max_tokens,
        ngrams=cfg.ngrams,
        split="character" if cfg.split == "character" else "whitespace",
        output_mode="tf_idf" if tf_idf else "int",
        output_sequence_length=None if tf_idf else cfg.sequence_length,
        name=f"{name}_ngrams",
    )
    vectorize.adapt(train_texts)
    vectors = vectorize(text)
    if tf_idf:
        # Each text's TF-IDF vector scaled to unit length, as scikit-learn's TfidfVectorizer
        # does: long and short texts weigh the same.
        x = keras.layers.UnitNormalization(name=f"{name}_unit")(vectors)
        x = keras.layers.Dropout(cfg.dropout, name=f"{name}_dropout")(x)
        return keras.layers.Dense(
            cfg.embedding_dim,
            kernel_regularizer=keras.regularizers.L2(cfg.l2) if cfg.l2 else None,
            name=f"{name}_projection",
        )(x)
    embedded = keras.layers.Embedding(cfg.max_tokens, cfg.embedding_dim, name=f"{name}_embedding")(
        vectors
    )
    x = MaskedMean(name=f"{name}_mean")(embedded, vectors)
    return keras.layers.Dropout(cfg.dropout, name=f"{name}_dropout")(x)


def vocabulary(stats: Mapping[str, Any], spec: CategoricalInput, kind: str) -> list[Any]:
    """The train split's values of a categorical feature seen at least `min_count` times, most
    frequent first, from the dataset step's statistics."""
    feature = stats.get(spec.name, {})
    if "vocabulary" not in feature:
        raise InputDataError(
            f"input {spec.name!r}: the dataset statistics keep no vocabulary for it "
            f"({feature.get('distinct', '?')} distinct values in train; they are kept up to "
            "1000 values of at most 80 characters). Use kind: text for free text."
        )
    values = [v for v, count in feature["vocabulary"] if count >= spec.min_count and v != ""]
    return [int(v) for v in values] if kind == "int" else values


def _categorical(spec: CategoricalInput, x: Any, kind: str, stats: Mapping[str, Any]) -> Any:
    vocab = vocabulary(stats, spec, kind)
    lookup_cls = keras.layers.IntegerLookup if kind == "int" else keras.layers.StringLookup
    ids = lookup_cls(
        vocabulary=vocab, num_oov_indices=spec.oov_buckets, name=f"{spec.name}_lookup"
    )(x)
    return keras.layers.Embedding(
        len(vocab) + spec.oov_buckets, spec.embedding_dim, name=f"{spec.name}_embedding"
    )(ids)


def _numeric(spec: NumericInput, x: Any, stats: Mapping[str, Any]) -> Any:
    feature = stats.get(spec.name, {})
    mean, std = feature.get("mean"), feature.get("std")
    if mean is None:
        raise InputDataError(
            f"input {spec.name!r}: the dataset statistics have no mean for it "
            "(no value in the train split?)"
        )
    value = Impute(float(mean), name=f"{spec.name}_impute")(x)
    if spec.transform == "bucketize":
        assert spec.boundaries
        buckets = keras.layers.Discretization(
            bin_boundaries=list(spec.boundaries), name=f"{spec.name}_buckets"
        )(value)
        embedded = keras.layers.Embedding(
            len(spec.boundaries) + 1, spec.embedding_dim, name=f"{spec.name}_embedding"
        )(buckets)
        return keras.layers.Reshape((spec.embedding_dim,), name=f"{spec.name}_flat")(embedded)
    variance = float(std or 0.0) ** 2 or 1.0  # a constant feature stays centred, not divided by 0
    return keras.layers.Normalization(
        mean=[float(mean)], variance=[variance], name=f"{spec.name}_normalized"
    )(value)


def build_model(
    cfg: TrainConfig,
    types: Mapping[str, str],
    stats: Mapping[str, Any],
    train_texts: Callable[[str], Any],
) -> keras.Model:
    """The model of the config. `types` are the inputs' dataset types (string/int/float),
    `stats` the train split's feature statistics, `train_texts(name)` a dataset of that text
    feature's train values (in file order) for vocabularies learned from the text."""
    inputs: dict[str, Any] = {}
    encoded = []
    for spec in cfg.inputs:
        kind = types[spec.name]
        dtype = {"string": "string", "int": "int64", "float": "float32"}[kind]
        x = keras.Input(shape=(), dtype=dtype, name=spec.name)
        inputs[spec.name] = x
        if isinstance(spec, TextInput):
            if kind != "string":
                raise InputDataError(f"input {spec.name!r}: kind text needs a string feature")
            for i, encoder in enumerate(spec.encoders()):
                prefix = f"{spec.name}_{i}" if i else spec.name
                if isinstance(encoder, NgramBagConfig):
                    encoded.append(_ngram_bag(encoder, x, prefix, train_texts(spec.name)))
                else:
                    encoded.append(_char_cnn(encoder, x, prefix))
        elif isinstance(spec, CategoricalInput):
            if kind == "float":
                raise InputDataError(
                    f"input {spec.name!r}: a float feature cannot be categorical; "
                    "use kind: numeric with transform: bucketize"
                )
            encoded.append(_categorical(spec, x, kind, stats))
        else:
            if kind == "string":
                raise InputDataError(f"input {spec.name!r}: kind numeric needs an int or float")
            encoded.append(_numeric(spec, x, stats))
    x = encoded[0] if len(encoded) == 1 else keras.layers.Concatenate(name="features")(encoded)
    for i, units in enumerate(cfg.head.hidden_units):
        x = keras.layers.Dense(units, activation="relu", name=f"hidden_{i}")(x)
        if cfg.head.dropout:
            x = keras.layers.Dropout(cfg.head.dropout, name=f"hidden_{i}_dropout")(x)
    prob = keras.layers.Dense(1, activation="sigmoid", name="probability")(x)
    return keras.Model(inputs, prob, name="model")
