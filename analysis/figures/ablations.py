"""Ablations (gain over vanilla per curriculum mode) and the rho sweep (accuracy and steps to
target against rho). Inputs are analysis.comparisons.ablations's tables: '_'-prefixed numeric columns,
accuracies in [0, 1]."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.measures import BASELINE
from analysis.style import PALETTE, pyplot, save


def _interval(t: pd.DataFrame) -> list[list[float]]:
    """Asymmetric error bars (points) from the bootstrap bounds; zero where there is no CI."""
    gain = 100 * t["_gain"].astype(float)
    low = (gain - 100 * t["_low"].astype(float)).fillna(0)
    high = (100 * t["_high"].astype(float) - gain).fillna(0)
    return [low.tolist(), high.tolist()]


def bars(table: pd.DataFrame, out: Path, name: str = "ablations") -> list[Path]:
    """One panel per target: each mode's gain over vanilla (points), 95% bootstrap CI over seeds."""
    plt = pyplot()
    t_all = table[(table["method"] != BASELINE) & table["_gain"].notna()]
    targets = sorted(t_all["target"].unique())
    fig, axes = plt.subplots(
        1, max(1, len(targets)), figsize=(4.2 * max(1, len(targets)), 3.2), squeeze=False
    )
    for ax, target in zip(axes[0], targets, strict=False):
        t = t_all[t_all["target"] == target].sort_values("_gain")
        seeds = ", ".join(sorted({str(s) for s in t["seeds"]}))
        ax.barh(t["method"], 100 * t["_gain"].astype(float), xerr=_interval(t), color=PALETTE[0],
                capsize=2, label=f"mean gain (seeds per mode: {seeds}), 95% CI")  # fmt: skip
        ax.axvline(0, color="0.3", lw=0.8, label="vanilla")
        ax.set_xlabel("final accuracy - vanilla (points)")
        ax.set_title(f"ablations, target {target}", fontsize=9)
        ax.legend(fontsize=6, loc="lower right")
    return save(fig, out, name)


def rho(table: pd.DataFrame, vanilla: pd.DataFrame, out: Path, name: str = "rho") -> list[Path]:
    """Left: final accuracy (mean ± sd over seeds) against rho, vanilla as a dashed line; right: the
    first eval step where the mean curve reaches the target (runs that never reach it marked at
    the top with an x)."""
    plt = pyplot()
    fig, (acc_ax, step_ax) = plt.subplots(1, 2, figsize=(7.4, 3.0))
    top = 0
    for i, (target, t) in enumerate(table.groupby("target")):
        t = t.sort_values("rho")
        color = PALETTE[i % len(PALETTE)]
        acc_ax.errorbar(t["rho"], 100 * t["_mean"], yerr=100 * t["_sd"].astype(float).fillna(0), marker="o",
                        ms=3, color=color, capsize=2, label=f"SAERL, {target} (mean ± sd)")  # fmt: skip
        v = vanilla[vanilla["target"] == target]
        if len(v):
            acc_ax.axhline(
                100 * float(v["_mean"].iloc[0]), color=color, ls="--", lw=0.8, label=f"vanilla, {target}"
            )
        reached = t[t["_steps"].notna()]
        step_ax.plot(reached["rho"], reached["_steps"].astype(float), marker="o", ms=3, color=color,
                     label=f"SAERL, {target}")  # fmt: skip
        top = max(top, *(reached["_steps"].astype(float).tolist() or [0]))
        missing = t[t["steps to target"] == "not reached"]  # '-' (no vanilla to aim at) is not drawn
        if len(missing):
            step_ax.plot(missing["rho"], [top + 5] * len(missing), "x", color=color, label="not reached")
    for ax in (acc_ax, step_ax):
        ax.set_xlabel("rho (foreign share of each batch)")
        ax.legend(fontsize=6)
    acc_ax.set_ylabel("final accuracy (%)")
    acc_ax.set_title("final accuracy against rho", fontsize=9)
    step_ax.set_ylabel("steps to target")
    step_ax.set_title("steps to vanilla's best against rho", fontsize=9)
    return save(fig, out, name)
