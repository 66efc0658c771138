"""The transfer matrix: source model (SAE) x target model -> SAERL's accuracy gain over vanilla."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.style import pyplot, save


def plot(matrix: pd.DataFrame, out: Path, name: str = "transfer") -> list[Path]:
    """``matrix``: rows source, columns target, values gain in points (NaN where not run)."""
    plt = pyplot()
    vals = matrix.to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(2.6 + 1.6 * vals.shape[1], 1.8 + 0.8 * vals.shape[0]))
    lim = max(1.0, float(np.nanmax(np.abs(vals))) if np.isfinite(vals).any() else 1.0)
    im = ax.imshow(vals, cmap="RdBu", vmin=-lim, vmax=lim)
    ax.set_xticks(range(vals.shape[1]), [str(c) for c in matrix.columns])
    ax.set_yticks(range(vals.shape[0]), [str(i) for i in matrix.index])
    ax.set_xlabel("target model (RL)")
    ax.set_ylabel("source model (SAE)")
    ax.grid(False)
    for (i, j), v in np.ndenumerate(vals):
        dark = not np.isnan(v) and abs(v) > 0.6 * lim
        ax.text(j, i, "not run" if np.isnan(v) else f"{v:+.1f}", ha="center", va="center", fontsize=9,
                color="white" if dark else "black")  # fmt: skip
    fig.colorbar(im, ax=ax, label="points", shrink=0.8)
    ax.set_title("final accuracy, SAERL - vanilla", fontsize=9)
    return save(fig, out, name)
