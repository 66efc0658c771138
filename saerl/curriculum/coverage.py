"""Verifier-coupled coverage selection: a second SAE data-engineering method beside SAERL.

After IRDS (Li et al., 2026, arXiv 2605.28247, "Interpretable RLVR Data Selection via
Verifier-Coupled Sparse Autoencoder Coverage"): pick the subset of the RL pool that the policy fails
on but can still learn from, spread over the SAE basis, by greedy log-determinant maximisation. The
paper's code is not public; what follows is our reading of its description, and every choice that is
ours is marked OUR CHOICE here or in ``CurriculumConfig``.

The objective. Prompt i has L2-normalised pooled SAE features x_i and a learnability u_i in [0, 1].
The kernel is

    L_ij = q_i q_j (x_i . x_j + ridge [i == j]),    q_i = exp(beta * u_i / 2)

so that, for a selected set Y,

    log det L_Y = beta * sum_{i in Y} u_i + log det(S_Y + ridge I)

learnability summed over the selection plus the log-volume its features span (S = X X^T, cosine
similarity). Greedy MAP inference adds, at each step, the prompt with the largest gain in
log det L_Y, which is the squared residual norm of q_i [x_i, sqrt(ridge) e_i] after projection on
the span of the vectors already selected (OUR CHOICE of ridge: it keeps every determinant positive,
so the greedy never stalls once the selection spans the features, and a budget is always filled).

The implementation works in feature space: a Gram-Schmidt basis of the selected vectors (dense,
d_sae wide) and the residual norms of all candidates, updated with one sparse matrix-vector product
per step; the [prompts x prompts] kernel is never formed. Cost: O(N * nnz(X) + N^2 * d_sae) time and
O(N * d_sae) memory for a budget N (the incremental-Cholesky greedy of Chen, Zhang and Zhou, 2018,
written in its dual form). ``greedy_logdet_per_cluster`` is the documented approximation for budgets
where N^2 * d_sae is too much: per-cluster budgets proportional to size, the exact greedy inside
each cluster.

Learnability (``learnability``): u = 4 p (1 - p) with p the pass rate, the variance of a verifier
reward, which is 0 where every sample passes or every sample fails and 1 at p = 1/2 (the GRPO
advantage is zero on prompts with u = 0). Where rollout labels exist, p comes from them; elsewhere
from the difficulty proxy's prediction, read as a failure rate (clipped to [0, 1]).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from saerl.curriculum.budget import proportional_quotas


def learnability(failure_rate: np.ndarray) -> np.ndarray:
    """u = 4 p (1 - p), p = 1 - failure rate (clipped to [0, 1]); NaN in, NaN out."""
    p = 1.0 - np.clip(np.asarray(failure_rate, dtype=float), 0.0, 1.0)
    return 4.0 * p * (1.0 - p)


def verifier_weights(predicted: np.ndarray, labelled: np.ndarray | None, source: str) -> np.ndarray:
    """Learnability per prompt. ``source='labels'``: the rollout failure rate where ``labelled`` is
    not NaN, the proxy's prediction elsewhere; ``source='proxy'``: the prediction everywhere (the
    method then costs no rollouts beyond the proxy's own training labels)."""
    if source not in ("labels", "proxy"):
        raise ValueError(f"coverage weights: expected 'labels' or 'proxy', got {source!r}")
    failure = np.asarray(predicted, dtype=float).copy()
    if source == "labels" and labelled is not None:
        have = ~np.isnan(labelled)
        failure[have] = labelled[have]
    if np.isnan(failure).any():
        raise ValueError("coverage weights: the difficulty prediction has NaN entries")
    return learnability(failure)


def _unit_rows(x: Any) -> Any:
    """Rows scaled to unit L2 norm (all-zero rows stay zero), CSR in and out, float64."""
    import scipy.sparse as sp

    x = sp.csr_matrix(x, dtype=np.float64)
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sp.diags(scale) @ x


def greedy_logdet(
    features: Any, weights: np.ndarray, budget: int, beta: float, ridge: float
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy MAP of the kernel above: (selected indices in the order chosen, log-det gain of each).

    ``features``: [prompts x latents], dense or sparse, L2-normalised here; ``weights``: learnability
    u in [0, 1]. Gains equal to within 1e-9 (relative) are ties and go to the lowest index, so the
    result does not hinge on rounding."""
    if ridge <= 0:
        raise ValueError(f"coverage ridge: must be > 0, got {ridge}")
    x = _unit_rows(features)
    n, dim = x.shape
    if len(weights) != n:
        raise ValueError(f"coverage: {len(weights)} weights for {n} prompts")
    budget = min(int(budget), n)
    q = np.exp(beta * np.asarray(weights, dtype=float) / 2.0)
    residual = q**2 * (np.asarray(x.multiply(x).sum(axis=1)).ravel() + ridge)  # d_i^2
    floor = q**2 * ridge  # a candidate's private ridge coordinate is never projected away
    basis = np.zeros((budget, dim))  # feature-space part of each orthonormal basis vector
    chosen = np.zeros(budget, dtype=int)
    gains = np.zeros(budget)
    free = np.ones(n, dtype=bool)
    for t in range(budget):
        gain = np.where(free, residual, -np.inf)
        j = int(np.flatnonzero(gain >= gain.max() * (1 - 1e-9))[0])  # ties (to rounding): lowest index
        d2 = residual[j]
        chosen[t], gains[t], free[j] = j, np.log(d2), False
        row = x.getrow(j)
        b_j = np.zeros(dim)
        b_j[row.indices] = q[j] * row.data
        # The new basis vector: b_j minus its projections on the previous ones, normalised. Its
        # private (ridge) coordinates touch only selected prompts, so they never meet a candidate.
        coef = basis[:t, row.indices] @ (q[j] * row.data)
        u = (b_j - coef @ basis[:t]) / np.sqrt(d2)
        basis[t] = u
        e = q * (x @ u)
        residual = np.maximum(residual - e**2, floor)  # rounding must not cross the exact bound
    return chosen, gains


def logdet(
    features: Any, weights: np.ndarray, subset: Sequence[int] | np.ndarray, beta: float, ridge: float
) -> float:
    """log det L_Y of the kernel above, computed directly (for checks and the approximation report)."""
    x = _unit_rows(features)[list(subset)].toarray()
    q = np.exp(beta * np.asarray(weights, dtype=float)[list(subset)] / 2.0)
    kernel = (q[:, None] * q[None, :]) * (x @ x.T + ridge * np.eye(len(subset)))
    sign, value = np.linalg.slogdet(kernel)
    return float(value) if sign > 0 else float("-inf")


def greedy_logdet_per_cluster(
    features: Any, weights: np.ndarray, clusters: np.ndarray, budget: int, beta: float, ridge: float
) -> np.ndarray:
    """The approximation for large budgets: each cluster gets a share of the budget proportional to
    its size and runs the exact greedy on its own prompts. Cost sum_c N_c^2 * d_sae instead of
    N^2 * d_sae; coverage across clusters is then enforced by the quotas, not the determinant.
    Returns the selected indices, cluster by cluster."""
    import scipy.sparse as sp

    x = sp.csr_matrix(features)
    labels = np.unique(clusters)
    members = [np.flatnonzero(clusters == c) for c in labels]
    quotas = proportional_quotas(np.array([len(m) for m in members]), budget)
    picked = []
    for idx, quota in zip(members, quotas, strict=True):
        if quota:
            local, _ = greedy_logdet(x[idx], weights[idx], quota, beta, ridge)
            picked.append(idx[local])
    return np.concatenate(picked) if picked else np.zeros(0, dtype=int)
