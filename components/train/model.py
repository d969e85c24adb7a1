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


@keras.saving.register_keras_serializable(package="retrain")
class SparseTfIdfProjection(keras.layers.Layer):
    """A sparse TF-IDF bag [batch, vocabulary] -> [batch, units]: each text's vector scaled to
    unit length (as scikit-learn's TfidfVectorizer does: long and short texts weigh the same),
    dropout on its terms while training, then a linear map. The same model as
    UnitNormalization -> Dropout -> Dense on the dense vector, at the cost of the text's terms
    rather than of the whole vocabulary (a dense bag of 160,000 n-grams made every step a
    160,000-wide matrix product)."""

    def __init__(
        self,
        units: int,
        dropout: float = 0.0,
        l2: float = 0.0,
        idf: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.idf_init = idf  # the bag's IDF per index; its values are term counts
        self.units = units
        self.dropout = dropout
        self.l2 = l2
        self.seed = keras.random.SeedGenerator(1337) if dropout else None

    def build(self, input_shape: Any) -> None:
        self.kernel = self.add_weight(
            shape=(int(input_shape[-1]), self.units),
            initializer="glorot_uniform",
            regularizer=keras.regularizers.L2(self.l2) if self.l2 else None,
            name="kernel",
        )
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")
        width = int(input_shape[-1])
        idf = self.idf_init if self.idf_init is not None else [1.0] * width
        self.idf = self.add_weight(
            shape=(width,),
            initializer=keras.initializers.Constant(idf),
            trainable=False,
            name="idf",
        )

    def call(self, bag: Any, training: bool | None = None) -> tf.Tensor:
        if not isinstance(bag, tf.SparseTensor):
            bag = tf.sparse.from_dense(bag)
        rows = bag.indices[:, 0]
        batch = tf.cast(bag.dense_shape[0], tf.int32)
        # Keras' own sparse tf_idf output fails inside fit (a GatherNd of the wrong rank), so
        # the bag holds counts and the IDF is applied here.
        values = tf.cast(bag.values, tf.float32) * tf.gather(self.idf, bag.indices[:, 1])
        norms = tf.sqrt(tf.math.unsorted_segment_sum(values * values, rows, batch))
        values = tf.math.divide_no_nan(values, tf.gather(norms, rows))
        if training and self.dropout:
            keep = keras.random.uniform(tf.shape(values), seed=self.seed) >= self.dropout
            values = tf.where(keep, values / (1.0 - self.dropout), 0.0)
        unit = tf.SparseTensor(bag.indices, values, bag.dense_shape)
        return tf.sparse.sparse_dense_matmul(unit, self.kernel) + self.bias

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return (input_shape[0], self.units)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "dropout": self.dropout,
            "l2": self.l2,
        }


def learn_vocabulary(vectorize: keras.layers.TextVectorization, texts: Any) -> Any:
    """What `vectorize.adapt(texts)` learns (the `max_tokens` most frequent n-grams, ties by
    the token, descending, as Keras orders them; for tf_idf their IDF, log(1 + N / (1 + df)))
    counted in Python over the layer's own standardised n-grams. Keras' adapt updates hash
    tables batch by batch and took minutes for the reviews' character 5-grams; this takes
    seconds. `texts` is a dataset of string batches, or a list of strings. Returns the IDF of
    every index (OOV first, given the mean IDF, as Keras does), whatever the output mode."""
    import collections
    import itertools

    import numpy as np

    lookup = vectorize._lookup_layer
    batches = [tf.constant(texts)] if isinstance(texts, list | tuple) else texts
    terms: collections.Counter[bytes] = collections.Counter()
    documents: collections.Counter[bytes] = collections.Counter()
    n_docs = 0
    for batch in batches:
        tokens = vectorize._preprocess(batch)
        flat = tokens.flat_values.numpy().tolist()
        splits = tokens.row_splits.numpy().tolist()
        terms.update(flat)
        for start, end in itertools.pairwise(splits):
            documents.update(set(flat[start:end]))
        n_docs += len(splits) - 1
    if not terms:
        raise InputDataError(f"{vectorize.name}: the train split's texts have no n-gram")
    ranked = sorted(terms.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
    if vectorize._max_tokens:
        ranked = ranked[: vectorize._max_tokens - lookup._token_start_index()]
    vocab = [token.decode("utf-8") for token, _ in ranked]
    df = np.asarray([documents[token] for token, _ in ranked], dtype=np.float64)
    idf = np.log(1.0 + n_docs / (1.0 + df)).astype(np.float32)
    if lookup.output_mode == "tf_idf":
        vectorize.set_vocabulary(vocab, idf_weights=idf)
    else:
        vectorize.set_vocabulary(vocab)
    start = np.full(lookup._token_start_index(), idf.mean(), dtype=np.float32)
    return np.concatenate([start, idf])


def _ngram_bag(cfg: NgramBagConfig, text: Any, name: str, train_texts: Any) -> Any:
    tf_idf = cfg.mode == "tf_idf"
    vectorize = keras.layers.TextVectorization(
        max_tokens=cfg.max_tokens,
        ngrams=cfg.ngrams,
        split="character" if cfg.split == "character" else "whitespace",
        output_mode="count" if tf_idf else "int",
        output_sequence_length=None if tf_idf else cfg.sequence_length,
        sparse=tf_idf,
        name=f"{name}_ngrams",
    )
    idf = learn_vocabulary(vectorize, train_texts)
    vectors = vectorize(text)
    if tf_idf:
        return SparseTfIdfProjection(
            cfg.embedding_dim, cfg.dropout, cfg.l2, idf=idf, name=f"{name}_projection"
        )(vectors)
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


def _categorical(
    spec: CategoricalInput, x: Any, kind: str, stats: Mapping[str, Any]
) -> tuple[Any, Any]:
    """The value's vocabulary ids (OOV buckets first) and their embedding."""
    vocab = vocabulary(stats, spec, kind)
    lookup_cls = keras.layers.IntegerLookup if kind == "int" else keras.layers.StringLookup
    ids = lookup_cls(
        vocabulary=vocab, num_oov_indices=spec.oov_buckets, name=f"{spec.name}_lookup"
    )(x)
    embedded = keras.layers.Embedding(
        len(vocab) + spec.oov_buckets, spec.embedding_dim, name=f"{spec.name}_embedding"
    )(ids)
    return ids, embedded


def decile_boundaries(feature: Mapping[str, Any]) -> list[float]:
    """Bucket boundaries for a number's linear part: the distinct interior quantiles (deciles)
    of its train-split values, from the dataset statistics; none for a constant number."""
    quantiles = [float(q) for q in feature.get("quantiles") or [] if q is not None]
    return sorted(set(quantiles[1:-1]))


def _numeric(
    spec: NumericInput, x: Any, stats: Mapping[str, Any]
) -> tuple[Any, Any, Any, list[float]]:
    """The imputed value [batch, 1], its deep encoding (normalised, or its buckets embedded),
    the normalised value, and the bucket boundaries of its linear part."""
    feature = stats.get(spec.name, {})
    mean, std = feature.get("mean"), feature.get("std")
    if mean is None:
        raise InputDataError(
            f"input {spec.name!r}: the dataset statistics have no mean for it "
            "(no value in the train split?)"
        )
    value = Impute(float(mean), name=f"{spec.name}_impute")(x)
    variance = float(std or 0.0) ** 2 or 1.0  # a constant feature stays centred, not divided by 0
    normalized = keras.layers.Normalization(
        mean=[float(mean)], variance=[variance], name=f"{spec.name}_normalized"
    )(value)
    if spec.transform == "bucketize":
        assert spec.boundaries
        buckets = keras.layers.Discretization(
            bin_boundaries=list(spec.boundaries), name=f"{spec.name}_buckets"
        )(value)
        embedded = keras.layers.Embedding(
            len(spec.boundaries) + 1, spec.embedding_dim, name=f"{spec.name}_embedding"
        )(buckets)
        deep = keras.layers.Reshape((spec.embedding_dim,), name=f"{spec.name}_flat")(embedded)
        return value, deep, normalized, list(spec.boundaries)
    return value, normalized, normalized, decile_boundaries(feature)


@keras.saving.register_keras_serializable(package="retrain")
class Bias(keras.layers.Layer):
    """The logit's one learned intercept, added to the sum of the linear and deep terms."""

    def build(self, input_shape: Any) -> None:
        self.bias = self.add_weight(shape=(1,), initializer="zeros", name="bias")

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return x + self.bias


def build_model(
    cfg: TrainConfig,
    types: Mapping[str, str],
    stats: Mapping[str, Any],
    train_texts: Callable[[str], Any],
) -> keras.Model:
    """The model of the config (its inputs and head resolved: TrainConfig.with_default_inputs).
    `types` are the inputs' dataset types (string/int/float), `stats` the train split's feature
    statistics, `train_texts(name)` a dataset of that text feature's train values (in file
    order) for vocabularies learned from the text.

    The logit is the sum of a linear part (head kinds linear, wide_deep) and a deep part (deep,
    wide_deep), plus one bias; the output its sigmoid."""
    head = cfg.head
    if head.kind is None or head.hidden_units is None:
        raise ValueError("build_model needs a resolved head (TrainConfig.with_default_inputs)")
    wide = head.kind in ("linear", "wide_deep")
    deep = head.kind in ("deep", "wide_deep")
    l2 = keras.regularizers.L2(head.linear_l2) if head.linear_l2 else None
    inputs: dict[str, Any] = {}
    encoded: list[Any] = []  # the deep part's input
    dense_terms: list[
        Any
    ] = []  # the linear part's dense inputs: normalised numbers (and text, if linear)
    weight_terms: list[Any] = []  # the linear part's one-hot weights, each [batch, 1]

    def one_hot_weight(ids: Any, size: int, name: str) -> None:
        # A weight per value: the same as a one-hot vector times a weight column, without
        # materialising the one-hot vector.
        embedded = keras.layers.Embedding(
            size, 1, embeddings_initializer="zeros", embeddings_regularizer=l2, name=name
        )(ids)
        weight_terms.append(keras.layers.Reshape((1,), name=f"{name}_flat")(embedded))

    for spec in cfg.input_specs():
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
                    vector = _ngram_bag(encoder, x, prefix, train_texts(spec.name))
                else:
                    vector = _char_cnn(encoder, x, prefix)
                # Text is in the deep part; in a linear head, its encodings enter linearly.
                (encoded if deep else dense_terms).append(vector)
        elif isinstance(spec, CategoricalInput):
            if kind == "float":
                raise InputDataError(
                    f"input {spec.name!r}: a float feature cannot be categorical; "
                    "use kind: numeric with transform: bucketize"
                )
            ids, embedded = _categorical(spec, x, kind, stats)
            encoded.append(embedded)
            if wide:
                size = len(vocabulary(stats, spec, kind)) + spec.oov_buckets
                one_hot_weight(ids, size, f"{spec.name}_linear")
        else:
            if kind == "string":
                raise InputDataError(f"input {spec.name!r}: kind numeric needs an int or float")
            value, deep_encoding, normalized, boundaries = _numeric(spec, x, stats)
            encoded.append(deep_encoding)
            if wide:
                dense_terms.append(normalized)
                if boundaries:
                    buckets = keras.layers.Discretization(
                        bin_boundaries=boundaries, name=f"{spec.name}_linear_buckets"
                    )(value)
                    one_hot_weight(buckets, len(boundaries) + 1, f"{spec.name}_linear_bucket")

    terms = list(weight_terms)
    if dense_terms:
        x = _concat(dense_terms, "linear_features")
        # Zeros, as the one-hot weights and TF's linear estimators start: a random start would
        # be a random linear ranking that a short fit does not undo.
        linear = keras.layers.Dense(
            1, use_bias=False, kernel_initializer="zeros", kernel_regularizer=l2, name="linear"
        )
        terms.append(linear(x))
    if deep and encoded:
        x = _concat(encoded, "features")
        for i, units in enumerate(head.hidden_units):
            x = keras.layers.Dense(units, activation="relu", name=f"hidden_{i}")(x)
            if head.dropout:
                x = keras.layers.Dropout(head.dropout, name=f"hidden_{i}_dropout")(x)
        terms.append(keras.layers.Dense(1, use_bias=False, name="deep_logit")(x))
    if not terms:
        raise InputDataError(f"head {head.kind}: the inputs give it nothing to learn from")
    logit = terms[0] if len(terms) == 1 else keras.layers.Add(name="logit_terms")(terms)
    logit = Bias(name="logit")(logit)
    prob = keras.layers.Activation("sigmoid", name="probability")(logit)
    return keras.Model(inputs, prob, name="model")


def _concat(parts: list[Any], name: str) -> Any:
    return parts[0] if len(parts) == 1 else keras.layers.Concatenate(name=name)(parts)
