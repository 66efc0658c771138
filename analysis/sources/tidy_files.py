"""The committed results (analysis/results.py ``export``): ``runs.csv`` and ``metrics.csv`` in one
folder, read back into the same RunSet the run folders give."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.tidy import COLUMNS, CONDITION, RUN_COLUMNS, RunSet, _typed

RUNS_FILE, METRICS_FILE = "runs.csv", "metrics.csv"


def is_results(folder: Path) -> bool:
    return (folder / RUNS_FILE).is_file() and (folder / METRICS_FILE).is_file()


def _read(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, dtype={"run": str, "metric": str}, keep_default_na=True)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read ({exc})") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected {list(columns)}")
    return df


def load(folder: str | Path) -> RunSet:
    folder = Path(folder)
    if not is_results(folder):
        raise FileNotFoundError(f"{folder}: no {RUNS_FILE} and {METRICS_FILE} (saerl paper ... --export)")
    runs = _read(folder / RUNS_FILE, RUN_COLUMNS)
    metrics = _read(folder / METRICS_FILE, ("run", "step", "metric", "value"))
    if runs["run"].duplicated().any():
        twice = sorted(set(runs.loc[runs["run"].duplicated(), "run"]))
        raise ValueError(f"{folder / RUNS_FILE}: run(s) listed twice: {twice[:3]}")
    unknown = sorted(set(metrics["run"]) - set(runs["run"]))
    if unknown:
        raise ValueError(f"{folder / METRICS_FILE}: rows of run(s) not in {RUNS_FILE}: {unknown[:3]}")
    bad = metrics["step"].isna() | pd.to_numeric(metrics["value"], errors="coerce").isna()
    if bad.any():
        row = int(bad.idxmax()) + 2  # 1-based, after the header line
        raise ValueError(f"{folder / METRICS_FILE}:{row}: step and value must be numbers")
    runs = runs.astype({c: "object" for c in RUN_COLUMNS if c not in ("scale", "rho", "seed", "replicate")})
    table = metrics.merge(runs[["run", *CONDITION]], on="run", how="left")[list(COLUMNS)]
    table = table.sort_values(["run", "step", "metric"], kind="stable").reset_index(drop=True)
    runs = runs[list(RUN_COLUMNS)].sort_values("run").reset_index(drop=True)
    return RunSet(_typed(table), _typed(runs))
