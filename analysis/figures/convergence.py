"""Eval accuracy vs RL step: mean over seeds with the seed range shaded, one panel per target."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from analysis.convergence import best, mean_curve
from analysis.measures import BASELINE, SFT, curves, final, runs_of
from analysis.style import PALETTE, pyplot, save
from analysis.tidy import ACCURACY, RunSet


def plot(
    rs: RunSet,
    out: Path,
    metric: str = ACCURACY,
    name: str = "convergence",
    target_acc: float | None = None,
) -> list[Path]:
    """One panel per target; the dashed line is the steps-to-target target (``target_acc``, or the
    best of vanilla's mean curve on that target)."""
    plt = pyplot()
    targets = sorted(rs.runs["target_model"].dropna().unique())
    fig, axes = plt.subplots(
        1, max(1, len(targets)), figsize=(3.6 * max(1, len(targets)), 3.0), squeeze=False
    )
    by_run = curves(rs, metric)
    methods = sorted(rs.runs["method"].dropna().unique(), key=lambda m: (m != BASELINE, m))
    for ax, target in zip(axes[0], targets, strict=False):
        for i, method in enumerate(methods):
            color = PALETTE[i % len(PALETTE)]
            if method == SFT:  # trained for wall time, not steps: its final level, not a curve
                fin = final(rs).reindex(runs_of(rs, target_model=target, method=SFT)).dropna()
                if len(fin):
                    label = f"{SFT} final, same wall time (n={len(fin)})"
                    ax.axhline(100 * fin.mean(), color=color, ls=":", lw=1.2, label=label)
                continue
            runs = [by_run[r] for r in runs_of(rs, target_model=target, method=method) if r in by_run]
            if not runs:
                continue
            steps = sorted(set.intersection(*(set(s for s, _ in c) for c in runs)))
            vals = np.array([[dict(c)[s] for s in steps] for c in runs]) * 100
            ax.plot(steps, vals.mean(0), color=color, marker="o", ms=3, label=f"{method} (n={len(runs)})")
            if len(runs) > 1:
                ax.fill_between(steps, vals.min(0), vals.max(0), color=color, alpha=0.15, lw=0)
        target_line = target_acc
        vanilla = [by_run[r] for r in runs_of(rs, target_model=target, method=BASELINE) if r in by_run]
        if target_line is None and vanilla:
            target_line = best(mean_curve(vanilla))
        if target_line is not None:
            how = "fixed" if target_acc is not None else "vanilla's best mean"
            ax.axhline(100 * target_line, color="grey", ls="--", lw=0.8, label=f"target ({how})")
        ax.set_title(f"target {target}", fontsize=9)
        ax.set_xlabel("RL step")
        ax.set_ylabel("greedy accuracy, mean of eval sets (%)" if metric == ACCURACY else f"{metric} (%)")
        ax.legend(fontsize=7)
    fig.suptitle("mean over seeds; shaded: min-max over seeds", fontsize=8)
    return save(fig, out, name)
