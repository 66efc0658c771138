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
]
MODES: tuple[str, ...] = Mode.__args__  # type: ignore[attr-defined]


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
    (``saerl.curriculum.order.stratified``) so that it still goes from easy to hard."""

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("batch_size: must be >= 1")
        if not 0.0 <= self.rho <= 0.5:
            raise ValueError(f"rho: expected 0 <= rho <= 0.5, got {self.rho}")
        if not 0.0 <= self.quality_fraction < 1.0:
            raise ValueError(f"quality_fraction: expected 0 <= q < 1, got {self.quality_fraction}")
