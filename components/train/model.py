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


def _char_cnn(cfg: CharCNNConfig, text: Any, name: str, layer: Callable[..., Any]) -> Any:
    ids = layer(f"{name}_chars", CharEncoder, cfg.max_chars, cfg.vocab_size, cfg.lowercase)(text)
    x = layer(f"{name}_embedding", keras.layers.Embedding, cfg.vocab_size, cfg.embedding_dim)(ids)
    pooled = []
    for width in cfg.kernel_sizes:
        conv = layer(
            f"{name}_conv_w{width}", keras.layers.Conv1D, cfg.filters, width, activation="relu"
        )(x)
        pooled.append(layer(f"{name}_maxpool_w{width}", keras.layers.GlobalMaxPooling1D)(conv))
    x = _concat(pooled, f"{name}_concat", layer)
    x = layer(f"{name}_dropout", keras.layers.Dropout, cfg.dropout)(x)
    return layer(f"{name}_dense", keras.layers.Dense, cfg.dense_units, activation="relu")(x)


@keras.saving.register_keras_serializable(package="retrain")
class SparseTfIdfProjection(keras.layers.Layer):
    """A sparse TF-IDF bag [batch, vocabulary] -> [batch, units]: each text's vector scaled to
    unit length (as scikit-learn's TfidfVectorizer does: long and short texts weigh the same),
    dropout on its terms while training, then a linear map. The same model as
    UnitNormalization -> Dropout -> Dense on the dense vector, at the cost of the text's terms
    rather than of the whole vocabulary (a dense bag of 160,000 n-grams made every step a
    160,000-wide matrix product). With `unit_length` off the weighted bag is used as it is
    (mode nb: naive-Bayes-weighted presence); with `units` 1 and a zero start it is the linear
    part's one weight per n-gram, logistic regression on the bag."""

    def __init__(
        self,
        units: int,
        dropout: float = 0.0,
        l2: float = 0.0,
        idf: Any = None,
        unit_length: bool = True,
        kernel_initializer: str = "glorot_uniform",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.idf_init = idf  # the bag's weight per index (IDF, or NB ratio); values are counts
        self.units = units
        self.dropout = dropout
        self.l2 = l2
        self.unit_length = unit_length
        self.kernel_initializer = kernel_initializer
        self.seed = keras.random.SeedGenerator(1337) if dropout else None

    def build(self, input_shape: Any) -> None:
        self.kernel = self.add_weight(
            shape=(int(input_shape[-1]), self.units),
            initializer=self.kernel_initializer,
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
        if self.unit_length:
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
            "unit_length": self.unit_length,
            "kernel_initializer": self.kernel_initializer,
        }


def learn_vocabulary(
    vectorize: keras.layers.TextVectorization, texts: Any, labels: Any = None
) -> Any:
    """What `vectorize.adapt(texts)` learns (the `max_tokens` most frequent n-grams, ties by
    the token, descending, as Keras orders them; for tf_idf their IDF, log(1 + N / (1 + df)))
    counted over the layer's own standardised n-grams with TensorFlow's hash-based unique
    (term counts, then document counts from the unique (text, n-gram) pairs). Keras' adapt
    updates hash tables batch by batch and took minutes for the reviews' character 5-grams;
    this takes seconds. `texts` is a dataset of string batches, or a list of strings. Returns
    the IDF of every index (OOV first, given the mean IDF, as Keras does), whatever the output
    mode.

    With `labels` (0/1, one per text, in the same order) it returns instead each index's
    naive-Bayes log-count ratio (Wang and Manning 2012, NBSVM): log(p_t / |p|) - log(q_t / |q|),
    p_t = 1 + the positive texts holding n-gram t, q_t the same over the negative ones; 0 for
    OOV."""
    import numpy as np

    lookup = vectorize._lookup_layer
    if isinstance(texts, list | tuple):
        every = tf.constant(list(texts), tf.string)
    else:
        every = tf.concat([tf.reshape(b, [-1]) for b in texts], axis=0)
    n_docs = int(every.shape[0])
    flags = None if labels is None else np.asarray(labels).astype(bool).ravel()
    if flags is not None and len(flags) != n_docs:
        raise InputDataError(f"{vectorize.name}: {len(flags)} labels for {n_docs} texts")
    tokens = vectorize._preprocess(every)
    if tokens.flat_values.shape[0] == 0:
        raise InputDataError(f"{vectorize.name}: the train split's texts have no n-gram")
    unique, ids = tf.unique(tokens.flat_values, out_idx=tf.int64)
    n_unique = int(unique.shape[0])
    counts = tf.math.bincount(ids, minlength=n_unique, dtype=tf.int64).numpy()
    rows = tokens.value_rowids()
    pairs, _ = tf.unique(rows * n_unique + ids)  # each n-gram once per text
    df_all = tf.math.bincount(pairs % n_unique, minlength=n_unique, dtype=tf.int64).numpy()
    words = unique.numpy()
    # Most frequent first, ties by the token descending, as Keras orders its vocabulary (a
    # bytes array compares as the tokens' bytes do; NumPy strips trailing NULs, which the
    # standardised n-grams have none of).
    order = np.lexsort((words.astype(bytes), counts))[::-1]
    if vectorize._max_tokens:
        order = order[: vectorize._max_tokens - lookup._token_start_index()]
    vocab = [w.decode("utf-8") for w in words[order].tolist()]
    df = df_all[order].astype(np.float64)
    idf = np.log(1.0 + n_docs / (1.0 + df)).astype(np.float32)
    if lookup.output_mode == "tf_idf":
        vectorize.set_vocabulary(vocab, idf_weights=idf)
    else:
        vectorize.set_vocabulary(vocab)
    if flags is not None:
        positive = tf.gather(tf.constant(flags), pairs // n_unique)
        pos_all = tf.math.bincount(
            tf.boolean_mask(pairs % n_unique, positive), minlength=n_unique, dtype=tf.int64
        ).numpy()
        pos = 1.0 + pos_all[order].astype(np.float64)
        neg = 1.0 + df - (pos - 1.0)
        ratio = (np.log(pos / pos.sum()) - np.log(neg / neg.sum())).astype(np.float32)
        return np.concatenate([np.zeros(lookup._token_start_index(), np.float32), ratio])
    start = np.full(lookup._token_start_index(), idf.mean(), dtype=np.float32)
    return np.concatenate([start, idf])


def bag_vectorizer(
    cfg: NgramBagConfig, name: str, texts: Any, labels: Any = None
) -> tuple[keras.layers.TextVectorization, Any]:
    """The n-gram bag's TextVectorization with its vocabulary learned from the train `texts`,
    and each index's weight: IDF (tf_idf), naive-Bayes ratio (nb: needs `labels`), or none
    (mean: the layer gives ids)."""
    bag = cfg.mode != "mean"
    vectorize = keras.layers.TextVectorization(
        max_tokens=cfg.max_tokens,
        ngrams=cfg.ngrams,
        split="character" if cfg.split == "character" else "whitespace",
        output_mode={"tf_idf": "count", "nb": "multi_hot", "mean": "int"}[cfg.mode],
        output_sequence_length=None if bag else cfg.sequence_length,
        sparse=bag,
        name=f"{name}_ngrams",
    )
    if cfg.mode == "nb" and labels is None:
        raise InputDataError(f"{name}: mode nb needs the train split's labels")
    weights = learn_vocabulary(vectorize, texts, labels if cfg.mode == "nb" else None)
    return vectorize, weights


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
    spec: CategoricalInput,
    x: Any,
    kind: str,
    stats: Mapping[str, Any],
    layer: Callable[..., Any],
) -> tuple[Any, Any]:
    """The value's vocabulary ids (OOV buckets first) and their embedding."""
    vocab = vocabulary(stats, spec, kind)
    lookup_cls = keras.layers.IntegerLookup if kind == "int" else keras.layers.StringLookup
    ids = layer(
        f"{spec.name}_lookup", lookup_cls, vocabulary=vocab, num_oov_indices=spec.oov_buckets
    )(x)
    embedded = layer(
        f"{spec.name}_embedding",
        keras.layers.Embedding,
        len(vocab) + spec.oov_buckets,
        spec.embedding_dim,
    )(ids)
    return ids, embedded


def decile_boundaries(feature: Mapping[str, Any]) -> list[float]:
    """Bucket boundaries for a number's linear part: the distinct interior quantiles (deciles)
    of its train-split values, from the dataset statistics; none for a constant number."""
    quantiles = [float(q) for q in feature.get("quantiles") or [] if q is not None]
    return sorted(set(quantiles[1:-1]))


def _numeric(
    spec: NumericInput, x: Any, stats: Mapping[str, Any], layer: Callable[..., Any]
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
    value = layer(f"{spec.name}_impute", Impute, float(mean))(x)
    variance = float(std or 0.0) ** 2 or 1.0  # a constant feature stays centred, not divided by 0
    normalized = layer(
        f"{spec.name}_normalized",
        keras.layers.Normalization,
        mean=[float(mean)],
        variance=[variance],
    )(value)
    if spec.transform == "bucketize":
        assert spec.boundaries
        buckets = layer(
            f"{spec.name}_buckets", keras.layers.Discretization, bin_boundaries=spec.boundaries
        )(value)
        embedded = layer(
            f"{spec.name}_embedding",
            keras.layers.Embedding,
            len(spec.boundaries) + 1,
            spec.embedding_dim,
        )(buckets)
        deep = layer(f"{spec.name}_flat", keras.layers.Reshape, (spec.embedding_dim,))(embedded)
        return value, deep, normalized, list(spec.boundaries)
    return value, normalized, normalized, decile_boundaries(feature)


@keras.saving.register_keras_serializable(package="retrain")
class Bias(keras.layers.Layer):
    """The logit's one learned intercept, added to the sum of the linear and deep terms."""

    def build(self, input_shape: Any) -> None:
        self.bias = self.add_weight(shape=(1,), initializer="zeros", name="bias")

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return x + self.bias


class Models:
    """The model of a config twice over, sharing every weight: `model` takes the raw features
    (what is exported and served); `fit_model` takes, for each n-gram bag, the bag itself (its
    TextVectorization's output) in place of the text, so the training loop vectorises the
    train and eval splits once, not in every epoch. `fit_features` maps raw feature batches
    to `fit_model`'s inputs."""

    def __init__(
        self,
        model: keras.Model,
        fit_model: keras.Model,
        vectorizers: dict[str, tuple[str, keras.layers.TextVectorization]],
    ) -> None:
        self.model = model
        self.fit_model = fit_model
        self.vectorizers = vectorizers  # fit input -> (text feature, its vectorizer)

    def fit_features(self, features: Mapping[str, Any]) -> dict[str, Any]:
        out = {bag: layer(features[text]) for bag, (text, layer) in self.vectorizers.items()}
        for name in self.fit_model.input:
            if name not in out:
                out[name] = features[name]
        return out


def build_model(
    cfg: TrainConfig,
    types: Mapping[str, str],
    stats: Mapping[str, Any],
    train_texts: Callable[[str], Any],
    train_labels: Callable[[], Any] | None = None,
) -> keras.Model:
    """The model of the config, raw features in (build_models(...).model)."""
    return build_models(cfg, types, stats, train_texts, train_labels).model


def build_models(
    cfg: TrainConfig,
    types: Mapping[str, str],
    stats: Mapping[str, Any],
    train_texts: Callable[[str], Any],
    train_labels: Callable[[], Any] | None = None,
) -> Models:
    """The model of the config (its inputs and head resolved: TrainConfig.with_default_inputs).
    `types` are the inputs' dataset types (string/int/float), `stats` the train split's feature
    statistics, `train_texts(name)` a dataset of that text feature's train values (in file
    order) for vocabularies learned from the text, `train_labels()` the train labels in the
    same order (for n-gram bags of mode nb).

    The logit is the sum of a linear part (head kinds linear, wide_deep) and a deep part (deep,
    wide_deep), plus one bias; the output its sigmoid. An n-gram bag of mode tf_idf or nb
    enters the linear part with one weight per n-gram (logistic regression on the bag), the
    deep part through its projection."""
    head = cfg.head
    if head.kind is None or head.hidden_units is None:
        raise ValueError("build_model needs a resolved head (TrainConfig.with_default_inputs)")
    hidden_units = list(head.hidden_units)
    wide = head.kind in ("linear", "wide_deep")
    deep = head.kind in ("deep", "wide_deep")
    l2 = keras.regularizers.L2(head.linear_l2) if head.linear_l2 else None
    made: dict[str, Any] = {}

    def layer(name: str, factory: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        # Each layer is made once and applied to both graphs (raw features, and bags).
        if name not in made:
            made[name] = factory(*args, name=name, **kwargs)
        return made[name]

    # The text vectorisers, learned once from the train split.
    vectorizers: dict[str, tuple[str, Any, Any, NgramBagConfig]] = {}
    for spec in cfg.input_specs():
        if isinstance(spec, TextInput):
            if types[spec.name] != "string":
                raise InputDataError(f"input {spec.name!r}: kind text needs a string feature")
            for i, encoder in enumerate(spec.encoders()):
                prefix = f"{spec.name}_{i}" if i else spec.name
                if isinstance(encoder, NgramBagConfig):
                    labels = train_labels() if train_labels and encoder.mode == "nb" else None
                    vectorize, weights = bag_vectorizer(
                        encoder, prefix, train_texts(spec.name), labels
                    )
                    vectorizers[f"{prefix}_bag"] = (spec.name, vectorize, weights, encoder)

    def graph(raw: bool) -> tuple[dict[str, Any], Any]:
        inputs: dict[str, Any] = {}
        encoded: list[Any] = []  # the deep part's input
        dense_terms: list[Any] = []  # the linear part's dense inputs (normalised numbers...)
        weight_terms: list[Any] = []  # the linear part's per-value weights, each [batch, 1]

        def one_hot_weight(ids: Any, size: int, name: str) -> None:
            # A weight per value: the same as a one-hot vector times a weight column, without
            # materialising the one-hot vector.
            embedded = layer(
                name,
                keras.layers.Embedding,
                size,
                1,
                embeddings_initializer="zeros",
                embeddings_regularizer=l2,
            )(ids)
            weight_terms.append(layer(f"{name}_flat", keras.layers.Reshape, (1,))(embedded))

        def raw_input(name: str) -> Any:
            if name not in inputs:
                dtype = {"string": "string", "int": "int64", "float": "float32"}[types[name]]
                inputs[name] = keras.Input(shape=(), dtype=dtype, name=name)
            return inputs[name]

        for spec in cfg.input_specs():
            kind = types[spec.name]
            if isinstance(spec, TextInput):
                for i, encoder in enumerate(spec.encoders()):
                    prefix = f"{spec.name}_{i}" if i else spec.name
                    if isinstance(encoder, CharCNNConfig):
                        vector = _char_cnn(encoder, raw_input(spec.name), prefix, layer)
                        (encoded if deep else dense_terms).append(vector)
                        continue
                    _, vectorize, weights, _ = vectorizers[f"{prefix}_bag"]
                    if raw:
                        ids = vectorize(raw_input(spec.name))
                    else:
                        ids = inputs[f"{prefix}_bag"] = _bag_input(encoder, weights, prefix)
                    if encoder.mode == "mean":
                        vector = _mean_embedding(encoder, ids, prefix, layer)
                        # Averaged embeddings: the deep part's, or a linear map of them.
                        (encoded if deep else dense_terms).append(vector)
                        continue
                    unit = encoder.mode == "tf_idf"
                    if wide:
                        weight_terms.append(
                            layer(
                                f"{prefix}_linear",
                                SparseTfIdfProjection,
                                1,
                                idf=weights,
                                unit_length=unit,
                                l2=head.linear_l2,
                                kernel_initializer="zeros",
                            )(ids)
                        )
                    if deep:
                        encoded.append(
                            layer(
                                f"{prefix}_projection",
                                SparseTfIdfProjection,
                                encoder.embedding_dim,
                                encoder.dropout,
                                encoder.l2,
                                idf=weights,
                                unit_length=unit,
                            )(ids)
                        )
            elif isinstance(spec, CategoricalInput):
                if kind == "float":
                    raise InputDataError(
                        f"input {spec.name!r}: a float feature cannot be categorical; "
                        "use kind: numeric with transform: bucketize"
                    )
                ids, embedded = _categorical(spec, raw_input(spec.name), kind, stats, layer)
                encoded.append(embedded)
                if wide:
                    size = len(vocabulary(stats, spec, kind)) + spec.oov_buckets
                    one_hot_weight(ids, size, f"{spec.name}_linear")
            else:
                if kind == "string":
                    raise InputDataError(f"input {spec.name!r}: kind numeric needs an int or float")
                value, deep_encoding, normalized, boundaries = _numeric(
                    spec, raw_input(spec.name), stats, layer
                )
                encoded.append(deep_encoding)
                if wide:
                    dense_terms.append(normalized)
                    if boundaries:
                        buckets = layer(
                            f"{spec.name}_linear_buckets",
                            keras.layers.Discretization,
                            bin_boundaries=boundaries,
                        )(value)
                        one_hot_weight(buckets, len(boundaries) + 1, f"{spec.name}_linear_bucket")

        terms = list(weight_terms)
        if dense_terms:
            x = _concat(dense_terms, "linear_features", layer)
            # Zeros, as the one-hot weights and TF's linear estimators start: a random start
            # would be a random linear ranking that a short fit does not undo.
            terms.append(
                layer(
                    "linear",
                    keras.layers.Dense,
                    1,
                    use_bias=False,
                    kernel_initializer="zeros",
                    kernel_regularizer=l2,
                )(x)
            )
        if deep and encoded:
            x = _concat(encoded, "features", layer)
            for i, units in enumerate(hidden_units):
                x = layer(f"hidden_{i}", keras.layers.Dense, units, activation="relu")(x)
                if head.dropout:
                    x = layer(f"hidden_{i}_dropout", keras.layers.Dropout, head.dropout)(x)
            terms.append(layer("deep_logit", keras.layers.Dense, 1, use_bias=False)(x))
        if not terms:
            raise InputDataError(f"head {head.kind}: the inputs give it nothing to learn from")
        logit = terms[0] if len(terms) == 1 else layer("logit_terms", keras.layers.Add)(terms)
        logit = layer("logit", Bias)(logit)
        return inputs, layer("probability", keras.layers.Activation, "sigmoid")(logit)

    raw_inputs, prob = graph(raw=True)
    model = keras.Model(raw_inputs, prob, name="model")
    fit_inputs, fit_prob = graph(raw=False)
    fit_model = keras.Model(fit_inputs, fit_prob, name="model_on_bags")
    return Models(
        model, fit_model, {bag: (text, vec) for bag, (text, vec, _, _) in vectorizers.items()}
    )


def _bag_input(cfg: NgramBagConfig, weights: Any, prefix: str) -> Any:
    """The fit model's input in place of a text: the bag its vectoriser gives."""
    if cfg.mode == "mean":
        return keras.Input(shape=(cfg.sequence_length,), dtype="int64", name=f"{prefix}_bag")
    return keras.Input(shape=(len(weights),), sparse=True, name=f"{prefix}_bag")


def _mean_embedding(cfg: NgramBagConfig, ids: Any, name: str, layer: Callable[..., Any]) -> Any:
    embedded = layer(
        f"{name}_embedding", keras.layers.Embedding, cfg.max_tokens, cfg.embedding_dim
    )(ids)
    x = layer(f"{name}_mean", MaskedMean)(embedded, ids)
    return layer(f"{name}_dropout", keras.layers.Dropout, cfg.dropout)(x)


def _concat(parts: list[Any], name: str, layer: Callable[..., Any]) -> Any:
    return parts[0] if len(parts) == 1 else layer(name, keras.layers.Concatenate)(parts)
