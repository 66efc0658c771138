"""Sharing a budget of prompts among clusters, proportionally to their sizes: used by the order
(a run's budget of whole batches) and by coverage selection (each cluster's share of the picks)."""

from __future__ import annotations

import numpy as np


def proportional_quotas(sizes: np.ndarray, budget: int) -> np.ndarray:
    """Shares of ``budget`` proportional to ``sizes`` (largest remainders round up), each capped by
    its size; they sum to min(budget, sum(sizes))."""
    sizes = np.asarray(sizes, dtype=int)
    budget = min(budget, int(sizes.sum()))
    exact = budget * sizes / max(int(sizes.sum()), 1)
    quota = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - quota), kind="stable")[: budget - int(quota.sum())]:
        quota[i] += 1
    return np.minimum(quota, sizes)


def stratified(groups: list[np.ndarray], budget: int, unit: int = 1) -> list[np.ndarray]:
    """At most ``budget`` items in all: each group (a cluster's easy-to-hard order) keeps a share
    proportional to its size (largest remainders round), taken at evenly spaced positions along its
    order, so the selection still spans easy to hard. ``unit``: shares are whole multiples of it
    where the groups allow (whole batches: no cluster leaves a remainder to pool with others)."""
    sizes = np.array([len(g) for g in groups])
    if budget >= int(sizes.sum()):
        return groups
    quota = proportional_quotas(sizes, budget)
    if unit > 1 and budget % unit == 0 and int((sizes // unit).sum()) * unit >= budget:
        quota = proportional_quotas(sizes // unit, budget // unit) * unit
    return [
        g[np.floor((np.arange(q) + 0.5) * len(g) / q).astype(int)] for g, q in zip(groups, quota, strict=True)
    ]
