"""Train's n-gram bags: the naive-Bayes bag (mode nb), the linear part's one weight per n-gram,
and the fit model on bags vectorised once, which shares every weight with the exported model."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from components.train.config import NgramBagConfig, TrainConfig
from tests.conftest import run_cli, small_config

TEXTS = ["a fine film", "a fine fine cast", "dull film", "dull and slow", "fine", ""]
LABELS = [1, 1, 0, 0, 1, 0]


def _config(head: str, *encoders: dict[str, Any]) -> TrainConfig:
    cfg = TrainConfig.model_validate(
        {
            "inputs": [{"name": "text", "kind": "text", "encoder": list(encoders)}],
            "head": {"kind": head},
        }
    )
    resolved, _ = cfg.with_default_inputs({}, {}, {})
    return resolved


NB = {"kind": "ngram_bag", "mode": "nb", "ngrams": 1, "max_tokens": 100}
TF_IDF = {"kind": "ngram_bag", "mode": "tf_idf", "ngrams": 2, "max_tokens": 100}


def test_nb_mode_is_a_checked_setting() -> None:
    assert NgramBagConfig.model_validate({"mode": "nb"}).mode == "nb"
    with pytest.raises(ValidationError, match="'mean', 'tf_idf' or 'nb'"):
        NgramBagConfig.model_validate({"mode": "nbsvm"})


def test_nb_ratio_is_the_log_count_ratio_of_the_labels() -> None:
    """Each word's weight: log(p / |p|) - log(q / |q|), p = 1 + positive texts holding it,
    q = 1 + negative ones; OOV weighs 0."""
    import keras
    import numpy as np

    from components.train.model import learn_vocabulary

    layer = keras.layers.TextVectorization(max_tokens=100, output_mode="multi_hot", sparse=True)
    ratio = learn_vocabulary(layer, TEXTS, np.asarray(LABELS))
    vocab = layer.get_vocabulary()
    assert vocab[0] == "[UNK]" and ratio[0] == 0.0
    pos = {
        w: 1 + sum(w in t.split() for t, y in zip(TEXTS, LABELS, strict=True) if y)
        for w in vocab[1:]
    }
    neg = {
        w: 1 + sum(w in t.split() for t, y in zip(TEXTS, LABELS, strict=True) if not y)
        for w in vocab[1:]
    }
    expected = [
        math.log(pos[w] / sum(pos.values())) - math.log(neg[w] / sum(neg.values()))
        for w in vocab[1:]
    ]
    np.testing.assert_allclose(ratio[1:], expected, rtol=1e-5)
    by_word = dict(zip(vocab, ratio.tolist(), strict=True))
    assert by_word["fine"] > 0 > by_word["dull"]
    from components.common.errors import InputDataError

    with pytest.raises(InputDataError, match="2 labels for 6 texts"):
        learn_vocabulary(layer, TEXTS, np.asarray([1, 0]))


def test_nb_bag_needs_labels() -> None:
    from components.common.errors import InputDataError
    from components.train.model import build_models

    with pytest.raises(InputDataError, match="mode nb needs the train split's labels"):
        build_models(_config("linear", NB), {"text": "string"}, {}, lambda _: TEXTS)


def test_linear_head_weighs_each_ngram_and_the_fit_model_shares_the_weights() -> None:
    """linear: one weight per n-gram of each bag, no projection; wide_deep: both. The model on
    bags gives the raw-text model's scores once its bags are vectorised from the texts."""
    import numpy as np
    import tensorflow as tf

    from components.train.model import build_models

    labels = np.asarray(LABELS)
    layers = {}
    for head in ("linear", "wide_deep"):
        models = build_models(
            _config(head, NB, TF_IDF), {"text": "string"}, {}, lambda _: TEXTS, lambda: labels
        )
        layers[head] = {layer.name for layer in models.model.layers}
        assert set(models.vectorizers) == {"text_bag", "text_1_bag"}
        assert {w.path for w in models.fit_model.weights} == {
            w.path for w in models.model.trainable_weights + models.model.non_trainable_weights
        } - {w.path for w in models.model.weights if "ngrams" in w.path}
        for i, weight in enumerate(models.model.trainable_weights):  # off the zero start
            weight.assign(0.3 * tf.random.stateless_normal(weight.shape, seed=[1, i]))
        raw = {"text": tf.constant(["a fine film", "dull and slow", "unseen words"])}
        direct = models.model(raw).numpy()
        on_bags = models.fit_model(models.fit_features(raw)).numpy()
        np.testing.assert_allclose(on_bags, direct, rtol=1e-5)
        assert len(set(np.round(direct.ravel(), 5))) == 3
    linear = {"text_linear", "text_1_linear"}
    assert linear <= layers["linear"] and not {"text_projection"} & layers["linear"]
    assert linear | {"text_projection", "text_1_projection"} <= layers["wide_deep"]


@pytest.mark.integration
def test_bags_vectorised_once_train_and_serve_raw_text(tmp_path: Path, built_dataset: Path) -> None:
    """The train step on the bags (nb words, TF-IDF characters, linear head): it records its
    training seconds, and the exported model scores raw text, an empty one too."""
    import numpy as np
    import tensorflow as tf

    config = small_config(
        tmp_path,
        train={
            "inputs": [
                {
                    "name": "text",
                    "kind": "text",
                    "encoder": [
                        {**NB, "ngrams": 2, "max_tokens": 5000},
                        {**TF_IDF, "split": "character", "ngrams": 3, "max_tokens": 5000},
                    ],
                }
            ],
            "head": {"kind": "linear"},
            "batch_size": 128,
            "epochs": 2,
        },
    )
    result = run_cli(
        "components.train",
        "--dataset",
        str(built_dataset),
        "--config",
        str(config),
        "--output",
        str(tmp_path / "model"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "the bags are vectorised once" in result.stderr
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert metrics["train_seconds"] > 0 and 0 <= metrics["val_auc"] <= 1
    assert len(json.loads((tmp_path / "model" / "history.json").read_text())["loss"]) == 2
    sig = tf.saved_model.load(str(tmp_path / "model" / "saved_model")).signatures["serving_default"]
    scores = sig(text=tf.constant(["A triumph of a film.", "Dull, lifeless.", ""]))[
        "probability"
    ].numpy()
    assert scores.shape == (3,) and np.isfinite(scores).all()
    assert ((scores >= 0) & (scores <= 1)).all()
