"""Ablations (final accuracy per curriculum mode) and the rho sweep (final accuracy vs rho)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.style import PALETTE, pyplot, save


def bars(table: pd.DataFrame, out: Path, name: str = "ablations") -> list[Path]:
    """``table``: columns target_model, method, mean, sd (accuracy in [0, 1])."""
    plt = pyplot()
    targets = sorted(table["target_model"].unique())
    fig, axes = plt.subplots(1, len(targets), figsize=(3.8 * len(targets), 3.0), squeeze=False)
    for ax, target in zip(axes[0], targets, strict=True):
        t = table[table["target_model"] == target]
        ax.barh(t["method"], 100 * t["mean"], xerr=100 * t["sd"].fillna(0), color=PALETTE[0])
        ax.set_xlabel("final accuracy (%)")
        ax.set_title(f"target {target}")
    return save(fig, out, name)


def rho(table: pd.DataFrame, out: Path, name: str = "rho") -> list[Path]:
    """``table``: columns target_model, rho, mean, sd."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(3.6, 3.0))
    for i, (target, t) in enumerate(table.groupby("target_model")):
        t = t.sort_values("rho")
        ax.errorbar(t["rho"], 100 * t["mean"], yerr=100 * t["sd"].fillna(0), marker="o", ms=3,
                    color=PALETTE[i % len(PALETTE)], label=str(target), capsize=2)  # fmt: skip
    ax.set_xlabel("rho (foreign share of each batch)")
    ax.set_ylabel("final accuracy (%)")
    ax.legend(fontsize=7)
    return save(fig, out, name)
