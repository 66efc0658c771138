"""Config of the curriculum stage: which ordering (the method or an ablation), B, rho, the filter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Mode = Literal[
    "saerl",  # full method
    "vanilla",  # seeded shuffle, no filter
    "no_curriculum",  # within-cluster order shuffled instead of easy-to-hard
    "no_mixing",  # rho = 0
    "no_cluster",  # one global easy-to-hard order, no cluster-first grouping
    "no_quality_filter",  # nothing filtered
    "length",  # difficulty = prompt length (external-signal baseline)
    "rollout",  # difficulty = rollout failure rate (external-signal baseline)
    "coverage",  # a second method: verifier-coupled coverage selection (saerl/curriculum/coverage.py)
]
MODES: tuple[str, ...] = Mode.__args__  # type: ignore[attr-defined]
ORDERINGS: tuple[str, ...] = tuple(m for m in MODES if m != "coverage")
"""The modes that order the whole kept pool (SAERL, its ablations, the baselines); 'coverage' instead
selects a subset of it."""


@dataclass(frozen=True)
class CurriculumConfig:
    """How the scored prompts become the RL trainer's ordered batches."""

    mode: Mode = "saerl"
    """The full method or one ablation (docs/method.md section 5)."""
    batch_size: int = 32
    """B: prompts per RL step (must equal the RL trainer's prompts per optimizer step). OUR CHOICE
    for the miniature (docs/method.md leaves B to the trainer): with 8 prompts per step every learning
    rate that moved the model lowered held-out accuracy; 32 is the smallest tried where RL gains
    (analysis/LOG.md, "GRPO degradation: diagnostics")."""
    rho: float = 0.25
    """Mixing ratio: adjacent batches exchange floor(rho * B) items (docs/method.md default 0.25)."""
    quality_fraction: float = 0.1
    """Drop this lowest-quality fraction q (docs/method.md default 10%)."""
    quality_threshold: float | None = None
    """If set, drop items with quality below this instead of the lowest fraction."""
    seed: int = 0
    """Seed of the vanilla shuffle and of the no_curriculum within-cluster shuffle."""
    overflow: Literal["repeat", "error"] = "repeat"
    """When the run has more steps than the stream has batches: 'repeat' replays the stream's full
    batches in the same order (a second pass), 'error' refuses. OUR CHOICE: repeating keeps the
    order within each pass; a run shorter than the stream instead trains on a stratified subset
    (``saerl.curriculum.budget.stratified``) so that it still goes from easy to hard."""

    # Coverage selection (mode='coverage', after IRDS, arXiv 2605.28247; its code is not public, so
    # every knob below is OUR CHOICE, documented in saerl/curriculum/coverage.py).
    coverage_weights: Literal["labels", "proxy"] = "labels"
    """Learnability u = 4p(1-p) from the rollout pass rate where the signals stage labelled a prompt
    and from the difficulty proxy elsewhere ('labels'), or from the proxy for every prompt ('proxy').
    Both cost no rollouts beyond the proxy's own training labels."""
    coverage_beta: float = 4.0
    """Weight of learnability against coverage: the objective is beta * sum(u) + log det(S + ridge I).
    OUR CHOICE: with 4, a prompt at p = 1/2 (u = 1) is worth one unit of log-volume more than one at
    p = 0.85 or 0.15 (u = 0.51), so learnability orders prompts of similar novelty while a prompt
    that adds a new SAE direction still beats a near-duplicate of a more learnable one."""
    coverage_ridge: float = 0.01
    """Diagonal added to the cosine-similarity kernel. OUR CHOICE: small enough that a near-duplicate
    (cosine 0.99) adds little volume, and > 0 so that determinants stay positive and a budget larger
    than the features' rank is still filled."""
    coverage_fraction: float | None = None
    """Budget as a fraction of the (filtered) pool, rounded down to whole batches (one at least);
    None: the run's steps * B, so that every selected prompt is seen once and the method sees as
    many distinct prompts as SAERL's stratified subset. A smaller fraction is repeated to fill the
    run (curriculum.overflow)."""
    coverage_scope: Literal["global", "cluster"] = "global"
    """'global': the exact greedy over the pool; 'cluster': per-cluster budgets proportional to size,
    the exact greedy inside each (the approximation for pools where budget^2 * d_sae is too much)."""
    coverage_order: Literal["shuffle", "difficulty"] = "shuffle"
    """How the selected prompts are batched: a seeded shuffle (the method as published), or SAERL's
    order (clusters, easy to hard, mixing) as a variant."""
    coverage_filter: bool = False
    """Apply the quality filter before selecting. OUR CHOICE: off, since the method has no quality
    stage of its own (learnability already gives a prompt nobody can solve a low weight)."""

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("batch_size: must be >= 1")
        if not 0.0 <= self.rho <= 0.5:
            raise ValueError(f"rho: expected 0 <= rho <= 0.5, got {self.rho}")
        if not 0.0 <= self.quality_fraction < 1.0:
            raise ValueError(f"quality_fraction: expected 0 <= q < 1, got {self.quality_fraction}")
        if self.coverage_ridge <= 0:
            raise ValueError(f"coverage_ridge: must be > 0, got {self.coverage_ridge}")
        if self.coverage_beta < 0:
            raise ValueError(f"coverage_beta: must be >= 0, got {self.coverage_beta}")
        if self.coverage_fraction is not None and not 0.0 < self.coverage_fraction <= 1.0:
            raise ValueError(f"coverage_fraction: expected 0 < f <= 1 or null, got {self.coverage_fraction}")
