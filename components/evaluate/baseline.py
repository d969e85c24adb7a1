"""Simple strong baselines trained inside the evaluate step, on the dataset's train split: for
tables, logistic regression (one-hot categorical, standardised numeric columns) and gradient-
boosted trees (scikit-learn HistGradientBoostingClassifier); for text, TF-IDF n-grams + logistic
regression.

The candidate is judged beside them on the same test split, so a report always says whether the
model beats what a linear model or a tree ensemble learns from the same examples in seconds, and
the blessing can require it (metrics.BlessRule).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, model_validator

from components.common.config import Strict
from components.common.errors import ConfigError

log = logging.getLogger(__name__)

# Names a baseline may not take: the other models of the report and the rule keyword.
RESERVED = frozenset({"candidate", "champion", "best_baseline", "baseline"})
# The kinds of older configs (a single `evaluate.baseline`), read as the new ones.
LEGACY_KINDS = {"onehot_logreg": "logreg", "tfidf_logreg": "tfidf"}


class _Named(Strict):
    kind: str
    name: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9_]*$",
        description="how the report, the metrics (`baseline_<name>_roc_auc`) and `bless` rules "
        "call it (lower case letters, digits, _); default: its kind",
    )

    @property
    def label(self) -> str:
        return self.name or self.kind


class _Tabular(_Named):
    categorical: list[str] | None = Field(
        default=None,
        description="categorical columns; with `numeric` also omitted: every categorical "
        "feature of the dataset's schema (kinds); listing only one of them leaves the other empty",
    )
    numeric: list[str] | None = Field(
        default=None, description="numeric columns; default as for `categorical`"
    )

    @model_validator(mode="after")
    def _some(self) -> _Tabular:
        chosen = self.categorical is not None or self.numeric is not None
        if chosen and not self.features():
            raise ValueError(f"{self.label} needs categorical and/or numeric columns")
        return self

    def features(self) -> list[str]:
        return [*(self.categorical or []), *(self.numeric or [])]


def _legacy(data: Any, kind: str) -> Any:
    """An old kind (onehot_logreg, tfidf_logreg) as the new one, with the old defaults."""
    if not isinstance(data, dict) or data.get("kind") not in LEGACY_KINDS:
        return data
    out = {**data, "kind": LEGACY_KINDS[data["kind"]]}
    if kind == "logreg":  # the old columns defaulted to none, not to the dataset's
        out.setdefault("categorical", [])
        out.setdefault("numeric", [])
    else:
        out.setdefault("feature", "text")
    return out


class LogregBaseline(_Tabular):
    """OneHotEncoder (unknown values ignored) on categorical columns and StandardScaler on
    numeric ones (a missing number imputed with the train mean) + LogisticRegression."""

    kind: Literal["logreg"] = Field(default="logreg", description="this baseline's model")
    C: float = Field(
        default=1.0,
        gt=0,
        description="inverse L2 regularisation strength of the logistic regression: smaller "
        "shrinks the weights harder (a smoother, more biased model), larger fits the train split "
        "more closely",
    )
    max_iter: int = Field(default=2000, ge=1, description="solver iterations (lbfgs)")

    @model_validator(mode="before")
    @classmethod
    def _old(cls, data: Any) -> Any:
        return _legacy(data, "logreg")


class GbtBaseline(_Tabular):
    """HistGradientBoostingClassifier: categorical columns ordinal-encoded and given to it as
    native categorical features (the rarest values beyond `max_categories` grouped into one, an
    unseen or missing value treated as missing), numeric columns as they are (NaN: missing).
    No early stopping, so a fit is deterministic for its seed."""

    kind: Literal["gbt"] = Field(default="gbt", description="this baseline's model")
    learning_rate: float = Field(
        default=0.1, gt=0, description="shrinkage of each tree's contribution"
    )
    max_iter: int = Field(default=200, ge=1, description="boosting rounds (trees)")
    max_leaf_nodes: int = Field(default=31, ge=2, description="leaves per tree")
    min_samples_leaf: int = Field(default=20, ge=1, description="examples a leaf needs")
    l2_regularization: float = Field(default=0.0, ge=0, description="L2 penalty on leaf values")
    max_categories: int = Field(
        default=255, ge=2, le=255, description="distinct values kept per categorical column"
    )
    seed: int = Field(default=0, description="random_state")
    threads: int = Field(
        default=1,
        ge=1,
        description="OpenMP threads of the fit; 1 by default, as OpenMP's spinning threads slow "
        "a fit on a busy node many times over",
    )


class TfidfBaseline(_Named):
    """TfidfVectorizer (sublinear tf) + LogisticRegression on one text feature."""

    kind: Literal["tfidf"] = Field(default="tfidf", description="this baseline's model")
    feature: str | None = Field(
        default=None, description="the text feature; default: the dataset's text feature (kinds)"
    )
    analyzer: Literal["word", "char_wb"] = Field(
        default="word", description="n-grams of words, or of characters within word boundaries"
    )
    ngram_range: tuple[int, int] = Field(
        default=(1, 2), description="the shortest and longest n-gram, in analyzer units"
    )
    min_df: int = Field(default=2, ge=1, description="a term must be in this many train documents")
    C: float = Field(
        default=4.0,
        gt=0,
        description="inverse L2 regularisation strength of the logistic regression (as logreg's)",
    )
    max_iter: int = Field(default=2000, ge=1, description="solver iterations (lbfgs)")

    @model_validator(mode="before")
    @classmethod
    def _old(cls, data: Any) -> Any:
        return _legacy(data, "tfidf")

    def features(self) -> list[str]:
        return [self.feature] if self.feature else []


Baseline = LogregBaseline | GbtBaseline | TfidfBaseline


def _kind(value: Any) -> str | None:
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return None if kind is None else LEGACY_KINDS.get(str(kind), str(kind))


BaselineConfig = Annotated[
    Annotated[LogregBaseline, Tag("logreg")]
    | Annotated[GbtBaseline, Tag("gbt")]
    | Annotated[TfidfBaseline, Tag("tfidf")],
    Discriminator(
        _kind,
        custom_error_type="baseline_kind",
        custom_error_message="a baseline needs kind: logreg, gbt or tfidf "
        "(onehot_logreg and tfidf_logreg, of older configs, are read as logreg and tfidf)",
    ),
]

DESCRIPTIONS = {
    "logreg": "logistic regression on one-hot categorical and standardised numeric columns",
    "gbt": "gradient-boosted trees (scikit-learn HistGradientBoosting)",
    "tfidf": "TF-IDF n-grams + logistic regression",
}


def check_names(baselines: Sequence[Baseline]) -> None:
    """Names are unique and none is reserved (ValueError naming the clash)."""
    seen: set[str] = set()
    for b in baselines:
        if b.label in RESERVED:
            raise ValueError(
                f"baseline name {b.label!r} is reserved ({', '.join(sorted(RESERVED))}); "
                "give it another `name`"
            )
        if b.label in seen:
            raise ValueError(f"two baselines are called {b.label!r}; give one a `name` of its own")
        seen.add(b.label)


def defaults(inputs: Mapping[str, str]) -> list[Baseline]:
    """The baselines a dataset with these {feature: kind} model inputs gets when none are
    configured: logreg and gbt over its categorical and numeric columns (if it has any), and
    tfidf on each text feature (named tfidf, or tfidf_<feature> when there are several)."""
    categorical = [n for n, k in inputs.items() if k == "categorical"]
    numeric = [n for n, k in inputs.items() if k == "numeric"]
    texts = [n for n, k in inputs.items() if k == "text"]
    out: list[Baseline] = []
    if categorical or numeric:
        out.append(LogregBaseline(categorical=categorical, numeric=numeric))
        out.append(GbtBaseline(categorical=categorical, numeric=numeric))
    for text in texts:
        name = "tfidf" if len(texts) == 1 else f"tfidf_{text}"
        out.append(TfidfBaseline(name=name, feature=text))
    return out


def resolve(configured: Sequence[Baseline] | None, inputs: Mapping[str, str]) -> list[Baseline]:
    """The baselines to fit, each with its name and columns set: `configured` (None: defaults
    from the dataset's model inputs) with omitted columns taken from `inputs` ({feature: kind},
    features.model_inputs). A baseline left without columns is a ConfigError naming it."""
    if configured is None:
        out = defaults(inputs)
        check_names(out)
        return [b.model_copy(update={"name": b.label}) for b in out]
    resolved: list[Baseline] = []
    for b in configured:
        update: dict[str, Any] = {"name": b.label}
        if isinstance(b, TfidfBaseline) and b.feature is None:
            texts = [n for n, k in inputs.items() if k == "text"]
            if len(texts) != 1:
                raise ConfigError(
                    f"evaluate.baselines {b.label}: set `feature`; the dataset has "
                    f"{len(texts)} text features ({texts}), so none is the default"
                )
            update["feature"] = texts[0]
        elif isinstance(b, LogregBaseline | GbtBaseline):
            if b.categorical is None and b.numeric is None:
                update["categorical"] = [n for n, k in inputs.items() if k == "categorical"]
                update["numeric"] = [n for n, k in inputs.items() if k == "numeric"]
                if not update["categorical"] and not update["numeric"]:
                    raise ConfigError(
                        f"evaluate.baselines {b.label}: the dataset has no categorical or "
                        f"numeric feature (kinds {dict(inputs)}); list `categorical` or "
                        "`numeric` columns, or drop this baseline"
                    )
            else:
                update["categorical"] = b.categorical or []
                update["numeric"] = b.numeric or []
        resolved.append(b.model_copy(update=update))
    return resolved


def _text(values: Any) -> list[str]:
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values]


def _floats(values: Any) -> Any:
    return values.astype(float)


def _columns(cfg: LogregBaseline | GbtBaseline) -> tuple[list[int], list[int]]:
    n_cat = len(cfg.categorical or [])
    return list(range(n_cat)), list(range(n_cat, n_cat + len(cfg.numeric or [])))


def _pipeline(cfg: Baseline) -> Any:
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import (
        FunctionTransformer,
        OneHotEncoder,
        OrdinalEncoder,
        StandardScaler,
    )

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
    cat, num = _columns(cfg)
    if isinstance(cfg, LogregBaseline):
        columns = ColumnTransformer(
            [
                ("categorical", OneHotEncoder(handle_unknown="ignore"), cat),
                (
                    "numeric",
                    make_pipeline(FunctionTransformer(_floats), SimpleImputer(), StandardScaler()),
                    num,
                ),
            ]
        )
        return make_pipeline(columns, LogisticRegression(C=cfg.C, max_iter=cfg.max_iter))
    columns = ColumnTransformer(
        [
            (
                "categorical",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value",
                    unknown_value=np.nan,
                    encoded_missing_value=np.nan,
                    max_categories=cfg.max_categories,
                ),
                cat,
            ),
            ("numeric", FunctionTransformer(_floats), num),
        ],
        sparse_threshold=0.0,
    )
    trees = HistGradientBoostingClassifier(
        learning_rate=cfg.learning_rate,
        max_iter=cfg.max_iter,
        max_leaf_nodes=cfg.max_leaf_nodes,
        min_samples_leaf=cfg.min_samples_leaf,
        l2_regularization=cfg.l2_regularization,
        categorical_features=cat or None,  # the ordinal codes come first
        early_stopping=False,
        random_state=cfg.seed,
    )
    return make_pipeline(columns, trees)


def _frame(cfg: Baseline, columns: Mapping[str, Any]) -> Any:
    """The model's input: texts, or one object-typed 2-D array (categorical columns as
    strings, then numeric columns as floats; NaN for a missing number)."""
    import numpy as np

    if isinstance(cfg, TfidfBaseline):
        return _text(columns[cfg.feature or ""])
    parts = [np.asarray(_text(columns[c]), dtype=object) for c in cfg.categorical or []]
    parts += [np.asarray(columns[c], dtype=float).astype(object) for c in cfg.numeric or []]
    return np.stack(parts, axis=1)


@dataclass
class Fitted:
    """One baseline's outcome: its test scores, or the error that kept it from fitting."""

    name: str
    kind: str
    features: list[str]
    fit_seconds: float | None
    scores: Any = None
    error: str | None = None
    metrics: dict[str, Any] | None = field(default=None)

    def summary(self) -> dict[str, Any]:
        """What the metrics JSON and the report show of it."""
        return {
            "kind": self.kind,
            "description": DESCRIPTIONS[self.kind],
            "features": self.features,
            "fit_seconds": self.fit_seconds,
            "error": self.error,
            "metrics": self.metrics,
        }


def fit_and_score(
    cfg: Baseline,
    train: Mapping[str, Any],
    train_labels: Any,
    test: Mapping[str, Any],
) -> Any:
    """Fit on the train split's columns, return probabilities for the test columns (raises
    ValueError when the baseline cannot be fit; `fit` turns that into a Fitted with the error)."""
    return fit(cfg, train, train_labels, test, catch=False).scores


def fit(
    cfg: Baseline,
    train: Mapping[str, Any],
    train_labels: Any,
    test: Mapping[str, Any],
    catch: bool = True,
) -> Fitted:
    """Fit `cfg` (resolved: name and columns set) on the train columns and score the test
    columns. A baseline that cannot be fit (one class in the train split, an empty vocabulary)
    gives a Fitted whose `error` says why, and no scores, unless `catch` is False."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    if not cfg.features():
        raise ConfigError(
            f"baseline {cfg.label} has no columns; resolve() it against the dataset's kinds first"
        )
    out = Fitted(cfg.label, cfg.kind, cfg.features(), None)
    classes = sorted(set(np.asarray(train_labels).tolist()))
    try:
        if len(classes) < 2:
            raise ValueError(
                f"the train split has {len(train_labels)} examples of "
                f"{len(classes)} class(es) {classes}; a classifier needs both"
            )
        model = _pipeline(cfg)  # imports sklearn, and so loads its OpenMP runtime
        threads = cfg.threads if isinstance(cfg, GbtBaseline) else None
        with threadpool_limits(limits=threads, user_api="openmp"):
            start = time.perf_counter()
            model.fit(_frame(cfg, train), train_labels)
            out.fit_seconds = round(time.perf_counter() - start, 3)
            out.scores = model.predict_proba(_frame(cfg, test))[:, 1]
    except ValueError as err:
        if not catch:
            raise
        out.error = str(err).splitlines()[0] if str(err) else type(err).__name__
        log.warning("baseline %s could not be fit: %s", out.name, out.error)
        return out
    log.info(
        "baseline %s (%s) fit on %d examples in %.2f s",
        out.name,
        cfg.kind,
        len(train_labels),
        out.fit_seconds,
    )
    return out
