"""Diversity: k-means clusters of normalised SAE features, and the topic probe of the preliminary
study (a linear classifier on z should beat the majority-class baseline; docs/method.md section 2)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from saerl.signals.config import DiversityConfig


class TopicProbe(NamedTuple):
    accuracy: float
    majority_baseline: float
    n_test: int
    n_topics: int


def normalize_rows(z: Any, how: str) -> Any:
    from sklearn.preprocessing import normalize

    return normalize(z, norm="l2") if how == "l2" else z


def cluster(z: Any, cfg: DiversityConfig) -> np.ndarray:
    """Cluster label per row of z (seeded)."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    n = z.shape[0]
    if not 1 <= cfg.n_clusters <= n:
        raise ValueError(f"diversity.n_clusters={cfg.n_clusters} is impossible with {n} prompts")
    x = normalize_rows(z, cfg.normalize)
    if n > cfg.minibatch_above:
        km: Any = MiniBatchKMeans(n_clusters=cfg.n_clusters, random_state=cfg.seed, n_init=3, batch_size=4096)
    else:
        km = KMeans(n_clusters=cfg.n_clusters, random_state=cfg.seed, n_init=4)
    return km.fit_predict(x).astype(int)


def topic_probe(z: Any, topics: Sequence[str], cfg: DiversityConfig) -> TopicProbe | None:
    """Held-out accuracy of a logistic-regression topic classifier on z; None without 2+ topics."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    labels = np.asarray(topics)
    if len(set(labels.tolist()) - {""}) < 2:
        return None
    x = normalize_rows(z, cfg.normalize)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, labels, test_size=cfg.topic_probe_test_fraction, random_state=cfg.seed, stratify=labels
    )
    clf = LogisticRegression(max_iter=2000, C=10.0).fit(x_tr, y_tr)
    majority = Counter(y_tr.tolist()).most_common(1)[0][0]
    return TopicProbe(
        accuracy=float((clf.predict(x_te) == y_te).mean()),
        majority_baseline=float((y_te == majority).mean()),
        n_test=len(y_te),
        n_topics=len(set(labels.tolist())),
    )
