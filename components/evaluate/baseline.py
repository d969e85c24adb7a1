"""A strong simple baseline trained inside the evaluate step: scikit-learn logistic regression on
TF-IDF n-grams of a text feature, or on one-hot categorical and standardised numeric columns.

The model is judged beside it on the same test split, so a report always says whether the deep
model beats what a linear model learns from the same training examples in seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, model_validator

from components.common.config import Strict

log = logging.getLogger(__name__)


class TfidfBaseline(Strict):
    """TfidfVectorizer + LogisticRegression on one text feature."""

    kind: Literal["tfidf_logreg"] = "tfidf_logreg"
    feature: str = "text"
    analyzer: Literal["word", "char_wb"] = "word"
    ngram_range: tuple[int, int] = (1, 2)
    min_df: int = Field(2, ge=1)
    C: float = Field(4.0, gt=0)
    max_iter: int = Field(2000, ge=1)

    def features(self) -> list[str]:
        return [self.feature]


class OneHotBaseline(Strict):
    """OneHotEncoder (unknown values ignored) on categorical columns and StandardScaler on
    numeric ones (a missing number imputed with the train mean) + LogisticRegression."""

    kind: Literal["onehot_logreg"]
    categorical: list[str] = []
    numeric: list[str] = []
    C: float = Field(1.0, gt=0)
    max_iter: int = Field(2000, ge=1)

    @model_validator(mode="after")
    def _some(self) -> OneHotBaseline:
        if not self.categorical and not self.numeric:
            raise ValueError("onehot_logreg needs categorical and/or numeric columns")
        return self

    def features(self) -> list[str]:
        return [*self.categorical, *self.numeric]


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("kind", "tfidf_logreg"))
    return str(getattr(value, "kind", "tfidf_logreg"))


BaselineConfig = Annotated[
    Annotated[TfidfBaseline, Tag("tfidf_logreg")] | Annotated[OneHotBaseline, Tag("onehot_logreg")],
    Discriminator(_kind),
]


def _text(values: Any) -> list[str]:
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values]


def _floats(values: Any) -> Any:
    return values.astype(float)


def _pipeline(cfg: TfidfBaseline | OneHotBaseline) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    if isinstance(cfg, TfidfBaseline):
        return make_pipeline(
            TfidfVectorizer(
                analyzer=cfg.analyzer,
                ngram_range=cfg.ngram_range,
                min_df=cfg.min_df,
                sublinear_tf=True,
            ),
            LogisticRegression(C=cfg.C, max_iter=cfg.max_iter),
        )
    n_cat = len(cfg.categorical)
    columns = ColumnTransformer(
        [
            ("categorical", OneHotEncoder(handle_unknown="ignore"), list(range(n_cat))),
            (
                "numeric",
                make_pipeline(FunctionTransformer(_floats), SimpleImputer(), StandardScaler()),
                list(range(n_cat, n_cat + len(cfg.numeric))),
            ),
        ]
    )
    return make_pipeline(columns, LogisticRegression(C=cfg.C, max_iter=cfg.max_iter))


def _frame(cfg: TfidfBaseline | OneHotBaseline, columns: Mapping[str, Any]) -> Any:
    """The model's input: texts, or one object-typed 2-D array (categorical columns as
    strings, then numeric columns as floats; NaN for a missing number)."""
    import numpy as np

    if isinstance(cfg, TfidfBaseline):
        return _text(columns[cfg.feature])
    parts = [np.asarray(_text(columns[c]), dtype=object) for c in cfg.categorical]
    parts += [np.asarray(columns[c], dtype=float).astype(object) for c in cfg.numeric]
    return np.stack(parts, axis=1)


def fit_and_score(
    cfg: TfidfBaseline | OneHotBaseline,
    train: Mapping[str, Any],
    train_labels: Any,
    test: Mapping[str, Any],
) -> Any:
    """Fit on the train split's columns, return probabilities for the test columns."""
    start = time.perf_counter()
    model = _pipeline(cfg)
    model.fit(_frame(cfg, train), train_labels)
    scores = model.predict_proba(_frame(cfg, test))[:, 1]
    log.info(
        "baseline %s fit on %d examples in %.1f s",
        cfg.kind,
        len(train_labels),
        time.perf_counter() - start,
    )
    return scores
