"""Convergence measures from logged eval curves (docs/method.md, 'Measures used in every report').

steps-to-target: the first eval step at which a run reaches the target accuracy; by default the
target is the best average accuracy of the vanilla curve (mean over its seeds) for the same target
model. Pure functions over plain lists, so they test against hand-computed cases.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

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


class Ratio(NamedTuple):
    """Steps-to-target of a method's mean curve over vanilla's, with a bootstrap interval.
    ``inf``: the method's mean curve never reaches the target; None: undefined (vanilla itself
    reaches it at step 0, or never)."""

    target: float
    method_steps: int | None
    vanilla_steps: int | None
    ratio: float | None
    low: float | None
    high: float | None
    n_boot: int


def _ratio(method: Curve, vanilla: Curve, target: float) -> float | None:
    v, m = steps_to_target(vanilla, target), steps_to_target(method, target)
    if not v:  # None or 0: nothing to be faster than
        return None
    return math.inf if m is None else m / v


def steps_ratio(
    method: Sequence[Curve],
    vanilla: Sequence[Curve],
    target: float | None = None,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Ratio:
    """Ratio of steps-to-target (method / vanilla) of the mean curves over seeds. The target is
    vanilla's best mean accuracy unless given. The interval resamples seeds with replacement within
    each method (target held fixed) and takes the empirical quantiles; resamples where the ratio is
    undefined are dropped, those where the method never gets there count as inf."""
    if not method or not vanilla:
        raise ValueError("steps_ratio: need at least one curve per method")
    v_mean, m_mean = mean_curve(vanilla), mean_curve(method)
    if target is None:
        target = best(v_mean)
    point = _ratio(m_mean, v_mean, target)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        m = [method[i] for i in rng.integers(len(method), size=len(method))]
        v = [vanilla[i] for i in rng.integers(len(vanilla), size=len(vanilla))]
        r = _ratio(mean_curve(m), mean_curve(v), target)
        if r is not None:
            draws.append(r)
    low = high = None
    if draws:
        alpha = (1 - level) / 2
        low, high = (float(np.quantile(draws, q, method="inverted_cdf")) for q in (alpha, 1 - alpha))
    return Ratio(
        target, steps_to_target(m_mean, target), steps_to_target(v_mean, target), point, low, high, len(draws)
    )


class Gain(NamedTuple):
    """A method's mean final accuracy minus vanilla's (same units as the inputs), with a bootstrap
    interval over seeds; ``low``/``high`` are None when either side has a single seed (resampling
    one value gives a zero-width interval, which is not a confidence interval)."""

    gain: float
    low: float | None
    high: float | None
    n_method: int
    n_vanilla: int


def gain_ci(
    method: Sequence[float],
    vanilla: Sequence[float],
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Gain:
    """Difference of means (method - vanilla) with a percentile bootstrap that resamples the seeds
    of each side with replacement, independently (the runs are not paired: seeds share no data
    order across methods)."""
    m, v = np.asarray(method, dtype=float), np.asarray(vanilla, dtype=float)
    if not len(m) or not len(v):
        raise ValueError("gain_ci: need at least one final accuracy per side")
    point = float(m.mean() - v.mean())
    if min(len(m), len(v)) < 2:
        return Gain(point, None, None, len(m), len(v))
    rng = np.random.default_rng(seed)
    draws = m[rng.integers(len(m), size=(n_boot, len(m)))].mean(axis=1) - v[
        rng.integers(len(v), size=(n_boot, len(v)))
    ].mean(axis=1)
    alpha = (1 - level) / 2
    low, high = (float(np.quantile(draws, q)) for q in (alpha, 1 - alpha))
    return Gain(point, low, high, len(m), len(v))
