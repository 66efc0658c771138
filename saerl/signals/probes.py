"""The linear read-outs on features: the ElasticNet difficulty proxy (docs/method.md section 3), the
quality probe (section 4), their baselines, and the correlation/AUC measures reported for them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np


class Correlation(NamedTuple):
    pearson: float
    spearman: float
    n: int


def correlation(pred: np.ndarray, true: np.ndarray) -> Correlation:
    from scipy.stats import pearsonr, spearmanr

    pred, true = np.asarray(pred, float), np.asarray(true, float)
    if len(pred) < 3 or np.std(pred) == 0 or np.std(true) == 0:
        return Correlation(float("nan"), float("nan"), len(pred))
    return Correlation(float(pearsonr(pred, true)[0]), float(spearmanr(pred, true)[0]), len(pred))


DENSE_LIMIT = 50_000_000  # elements; below this, sparse features are densified for the read-outs


def dense_if_small(x: Any) -> Any:
    """Sparse z as a dense array when it fits comfortably: centred, dense ElasticNetCV converged
    ~10x faster than on the uncentred sparse matrix (313 s vs 30 s on the miniature's 450 x 256)."""
    if hasattr(x, "toarray") and x.shape[0] * x.shape[1] <= DENSE_LIMIT:
        return x.toarray()
    return x


def _pipeline(scaler: Any, model: Any) -> Any:
    """A standardising pipeline that is fitted on the (few) labelled rows, densified when small, and
    applied to any number of rows, sparse ones included: a pool too large to densify is read a chunk
    of rows at a time (a sparse matrix cannot be centred in place)."""
    from sklearn.pipeline import Pipeline
    from sklearn.utils.metaestimators import available_if

    class DenseRows(Pipeline):
        chunk_rows = 2048

        def _rows(self, method: str, x: Any) -> Any:
            call = getattr(super(), method)
            if not hasattr(x, "tocsr") or not self[0].with_mean:
                return call(x)
            x = x.tocsr()
            return np.concatenate(
                [call(x[i : i + self.chunk_rows].toarray()) for i in range(0, x.shape[0], self.chunk_rows)]
            )

        def predict(self, X: Any, **params: Any) -> Any:
            return self._rows("predict", X)

        @available_if(lambda self: hasattr(self._final_estimator, "predict_proba"))
        def predict_proba(self, X: Any, **params: Any) -> Any:
            return self._rows("predict_proba", X)

    return DenseRows([("standardscaler", scaler), (type(model).__name__.lower(), model)])


def fit_elasticnet(x: Any, y: np.ndarray, l1_ratios: Sequence[float], folds: int, seed: int) -> Any:
    """ElasticNetCV, standardised so one alpha grid fits every feature width. The labelled rows are
    densified when small (always, at the default 600 labels, even for a 103k x 16,384 pool): the
    centred, dense fit converges far faster than the uncentred sparse one (see `dense_if_small`)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import ElasticNetCV
    from sklearn.preprocessing import StandardScaler

    x = dense_if_small(x)
    folds = max(2, min(folds, len(y)))
    scaler = StandardScaler(with_mean=not hasattr(x, "tocsr"))  # sparse inputs stay sparse
    model = ElasticNetCV(l1_ratio=list(l1_ratios), alphas=50, cv=folds, random_state=seed, max_iter=5000)
    with warnings.catch_warnings():
        # The weakest alphas of the path may stop at max_iter; CV never picks them on this data.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return _pipeline(scaler, model).fit(x, y)


def fit_linear(x: np.ndarray, y: np.ndarray) -> Any:
    """1-D or few-feature baselines (length, metadata): ordinary least squares."""
    from sklearn.linear_model import LinearRegression

    return LinearRegression().fit(x, y)


class ProbeScore(NamedTuple):
    auc: float
    pearson: float
    n_test: int


def fit_quality_probe(x: Any, clean: np.ndarray, kind: str, seed: int) -> Any:
    """Logistic (probability of clean) or ridge (score) probe."""
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.preprocessing import StandardScaler

    x = dense_if_small(x)
    scaler = StandardScaler(with_mean=not hasattr(x, "tocsr"))
    if kind == "logistic":
        clf = LogisticRegression(max_iter=3000, class_weight="balanced", C=1.0, random_state=seed)
        return _pipeline(scaler, clf).fit(x, clean)
    return _pipeline(scaler, RidgeCV(alphas=np.logspace(-2, 3, 12))).fit(x, clean.astype(float))


def quality_scores(probe: Any, x: Any) -> np.ndarray:
    """Higher = cleaner."""
    if hasattr(probe, "predict_proba"):
        return probe.predict_proba(x)[:, 1]
    return probe.predict(x)


def score_probe(scores: np.ndarray, clean: np.ndarray) -> ProbeScore:
    from sklearn.metrics import roc_auc_score

    both = len(set(clean.tolist())) == 2
    auc = float(roc_auc_score(clean, scores)) if both else float("nan")
    return ProbeScore(auc, correlation(scores, clean.astype(float)).pearson, len(clean))


def text_stats(prompts: Sequence[str]) -> np.ndarray:
    """Metadata-only features of a prompt (no model): length and character statistics."""
    rows = []
    for p in prompts:
        n = max(1, len(p))
        rows.append(
            [
                len(p),
                len(p.split()),
                sum(c.isdigit() for c in p) / n,
                sum(c.isalpha() for c in p) / n,
                sum(c.isspace() for c in p) / n,
                sum(not c.isalnum() and not c.isspace() for c in p) / n,
                float(p.rstrip().endswith(("?", "."))),
                len(re.findall(r"\d+", p)),
            ]
        )
    return np.asarray(rows, dtype=float)
