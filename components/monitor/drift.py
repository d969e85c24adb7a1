"""The monitor's figures, plain numpy: bins from the champion's training statistics, the
population stability index, Jensen-Shannon and binned KS distances, the out-of-vocabulary rate,
and the live quality's intervals (Wilson for a share, a seeded bootstrap for ROC AUC).

Bins. A number (or a text's length in characters) is binned on the unique training quantiles
(the dataset step keeps 11: min, deciles, max), with a bin below the training minimum and one
above its maximum (expected share 0: a value outside the training range is new). A category is
binned on the training vocabulary (or its top values) plus OTHER. The expected share of a bin is
what the quantiles imply: a tenth per decile step, several steps where quantiles coincide.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

OTHER = "(other)"  # the category bin of values outside the training vocabulary
MISSING = "(missing)"  # a null or absent value: counted, kept out of the PSI
VALUE_CHARS = 80  # as components.dataset.stats cuts category values
PREDICTION = "(prediction)"  # the pseudo-feature of the predicted probabilities
PREDICTION_BINS = 10  # equal-width bins of [0, 1]


@dataclass(frozen=True)
class FeaturePlan:
    """How one feature is binned, and the training shares of its bins."""

    name: str
    kind: str  # categorical, numeric or text
    edges: tuple[float, ...] = ()  # numeric / text length: unique training quantiles
    categories: tuple[str, ...] = ()  # categorical: the training vocabulary
    expected: tuple[float, ...] = ()  # training share per bin (bin_labels order)
    vocabulary: frozenset[str] | None = field(default=None, compare=False)  # text: words
    _category_set: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_category_set", frozenset(self.categories))

    def bin_labels(self) -> list[str]:
        if self.kind == "categorical":
            return [*self.categories, OTHER]
        return quantile_bin_labels(self.edges)

    def bin(self, value: Any) -> str:
        """The bin label of one live value (MISSING for None)."""
        if value is None:
            return MISSING
        if self.kind == "categorical":
            v = str(value)[:VALUE_CHARS]
            return v if v in self._category_set else OTHER
        x = float(len(value)) if self.kind == "text" else float(value)
        return self.bin_labels()[quantile_bin(self.edges, x)]


def quantile_bin_labels(edges: Sequence[float]) -> list[str]:
    inner = max(len(edges) - 1, 1)
    labels = [f"< {edges[0]:g}"]
    if len(edges) == 1:
        labels.append(f"= {edges[0]:g}")
    else:
        for i in range(inner):
            close = "]" if i == inner - 1 else ")"
            labels.append(f"[{edges[i]:g}, {edges[i + 1]:g}{close}")
    labels.append(f"> {edges[-1]:g}")
    return labels


def quantile_bin(edges: Sequence[float], x: float) -> int:
    """0: below the first edge; 1..m: the inner bins [e_i, e_i+1) (the last one closed);
    m + 1: above the last edge (m = number of inner bins)."""
    inner = max(len(edges) - 1, 1)
    if x < edges[0]:
        return 0
    if x > edges[-1]:
        return inner + 1
    i = int(np.searchsorted(np.asarray(edges), x, side="right")) - 1
    return min(max(i, 0), inner - 1) + 1


def quantile_expected(quantiles: Sequence[float]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(unique edges, expected share per bin) from Q evenly spaced training quantiles: the
    share of [e_i, e_i+1) is the quantile positions between the first appearance of each."""
    q = [float(v) for v in quantiles]
    if not q:
        raise ValueError("no training quantiles")
    steps = len(q) - 1
    edges = sorted(set(q))
    first = [q.index(e) / steps if steps else 0.0 for e in edges]
    if len(edges) == 1:
        inner = [1.0]
    else:
        inner = [first[i + 1] - first[i] for i in range(len(edges) - 2)]
        inner.append(1.0 - first[-2])
    return tuple(edges), (0.0, *inner, 0.0)


def category_expected(
    pairs: Iterable[Sequence[Any]], present: int
) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """(categories, expected share per bin incl. OTHER) from [[value, count], ...] among
    `present` training values (the rest of them, if the list is only the top values: OTHER)."""
    items = [(str(v), int(c)) for v, c in pairs]
    total = present or sum(c for _, c in items)
    if total <= 0:
        raise ValueError("no training values")
    shares = [c / total for _, c in items]
    return tuple(v for v, _ in items), (*shares, max(1.0 - sum(shares), 0.0))


def shares(counts: Sequence[float]) -> np.ndarray:
    arr = np.asarray(counts, dtype=float)
    total = arr.sum()
    return arr / total if total else arr


def psi(expected: Sequence[float], actual: Sequence[float], epsilon: float = 1e-4) -> float:
    """Population stability index sum((a - e) ln(a / e)) over bins, shares below `epsilon`
    (empty bins) raised to it."""
    e = np.maximum(np.asarray(expected, dtype=float), epsilon)
    a = np.maximum(np.asarray(actual, dtype=float), epsilon)
    return float(np.sum((a - e) * np.log(a / e)))


def js_distance(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Jensen-Shannon distance (base 2: 0 the same, 1 disjoint) of two share vectors."""
    p, q = shares(expected), shares(actual)
    m = (p + q) / 2

    def kl(x: np.ndarray) -> float:
        nz = x > 0
        return float(np.sum(x[nz] * np.log2(x[nz] / m[nz])))

    return math.sqrt(max((kl(p) + kl(q)) / 2, 0.0))


def ks_binned(expected: Sequence[float], actual: Sequence[float]) -> float:
    """The largest gap between the two cumulative shares at the bin edges (Kolmogorov-Smirnov
    on the bins, for ordered bins: numbers and lengths)."""
    return float(np.max(np.abs(np.cumsum(shares(expected)) - np.cumsum(shares(actual)))))


def oov_rate(counts: Mapping[str, int], vocabulary: frozenset[str] | set[str]) -> float | None:
    """Share of word occurrences not in `vocabulary` (None without words)."""
    total = sum(counts.values())
    if not total:
        return None
    return sum(n for w, n in counts.items() if w not in vocabulary) / total


def wilson(successes: int, n: int, confidence: float) -> tuple[float, float]:
    """Wilson score interval of a share at a two-sided `confidence`."""
    if n == 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(centre - half, 0.0), min(centre + half, 1.0)


def roc_auc(
    labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray
) -> float | None:
    """ROC AUC by the rank-sum (Mann-Whitney) formula, ties counted half; None with one class."""
    from scipy.stats import rankdata

    y = np.asarray(labels, dtype=int)
    s = np.asarray(scores, dtype=float)
    pos, neg = int(y.sum()), int(len(y) - y.sum())
    if pos == 0 or neg == 0:
        return None
    ranks = rankdata(s)
    return float((ranks[y == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def bootstrap_auc(
    labels: Sequence[int], scores: Sequence[float], confidence: float, resamples: int = 500
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the ROC AUC (seeded: the same data, the same interval)."""
    rng = np.random.default_rng(0)
    y, s = np.asarray(labels, dtype=int), np.asarray(scores, dtype=float)
    values = []
    for _ in range(resamples):
        idx = rng.integers(0, len(y), len(y))
        auc = roc_auc(y[idx], s[idx])
        if auc is not None:
            values.append(auc)
    if not values:
        return None
    tail = (1 - confidence) / 2
    lo, hi = np.quantile(values, [tail, 1 - tail])
    return float(lo), float(hi)
