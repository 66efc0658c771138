"""Per-run and per-condition measures over the tidy table, shared by the reports and the figures."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from analysis.convergence import Curve
from analysis.tidy import ACCURACY, RunSet

BASELINE = "vanilla"
FULL = "saerl"
SFT = "sft"
"""The same-compute SFT baseline: it trains for an RL run's wall time, not for RL steps, so it has
a final accuracy (logged at the RL runs' last step) but no curve over steps and no steps-to-target."""


def curves(rs: RunSet, metric: str = ACCURACY) -> dict[str, Curve]:
    """run -> [(step, value)] of ``metric``, steps ascending."""
    df = rs.metric(metric)
    return {
        run: list(zip(g["step"].astype(int), g["value"].astype(float), strict=True))
        for run, g in df.groupby("run", sort=True)
    }


def final(rs: RunSet, metric: str = ACCURACY) -> pd.Series:
    """run -> the value of ``metric`` at that run's last logged step for it."""
    df = rs.metric(metric).sort_values(["run", "step"])
    return df.groupby("run")["value"].last()


def at_step(rs: RunSet, step: int, metric: str = ACCURACY) -> pd.Series:
    df = rs.metric(metric)
    return df[df["step"] == step].set_index("run")["value"]


def runs_of(rs: RunSet, **where: object) -> list[str]:
    """Names of the runs whose condition matches every key=value given."""
    mask = pd.Series(True, index=rs.runs.index)
    for key, value in where.items():
        mask &= rs.runs[key] == value
    return sorted(rs.runs.loc[mask, "run"])


def mean_sd(values: Iterable[float]) -> tuple[float, float, int]:
    s = pd.Series(list(values), dtype="float64")
    return float(s.mean()), float(s.std(ddof=1)) if len(s) > 1 else float("nan"), len(s)


def incomplete(rs: RunSet, needed: tuple[str, ...] = (ACCURACY,)) -> pd.DataFrame:
    """Runs a report must not average in: not finished, or missing a needed metric."""
    have = rs.table.groupby("run")["metric"].agg(set)
    rows = []
    for r in rs.runs.itertuples(index=False):
        missing = [m for m in needed if m not in have.get(r.run, set())]
        if r.state != "done" or missing:
            last = rs.table.loc[rs.table["run"] == r.run, "step"]
            rows.append(
                {
                    "run": r.run,
                    "state": r.state,
                    "last step": int(last.max()) if len(last) else None,
                    "missing": ", ".join(missing) or "-",
                    "origin": r.origin,
                }
            )
    return pd.DataFrame(rows, columns=["run", "state", "last step", "missing", "origin"])
