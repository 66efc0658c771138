"""Convergence measures from logged eval curves (METHOD.md, 'Measures used in every report').

steps-to-target: the first eval step at which a run reaches the target accuracy; by default the
target is the best average accuracy of the vanilla curve (mean over its seeds) for the same target
model. Pure functions over plain lists, so they test against hand-computed cases.
"""

from __future__ import annotations

from collections.abc import Sequence

Curve = list[tuple[int, float]]  # (step, accuracy), steps ascending


def steps_to_target(curve: Curve, target: float) -> int | None:
    """First step whose accuracy >= target; None if the run never gets there."""
    for step, acc in curve:
        if acc >= target - 1e-12:
            return step
    return None


def mean_curve(curves: Sequence[Curve]) -> Curve:
    """Mean over runs at the steps every run logged."""
    if not curves:
        return []
    common = set.intersection(*(set(s for s, _ in c) for c in curves))
    return [(s, sum(dict(c)[s] for c in curves) / len(curves)) for s in sorted(common)]


def best(curve: Curve) -> float:
    return max(acc for _, acc in curve)
