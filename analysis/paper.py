"""`saerl paper` / `make paper`: every table and figure of the study, rebuilt from logged runs (run
folders or W&B) without training anything.

The runs of all locations are read, split by sweep (the study's main comparison, ablations and rho
sweep each answer their own question; pooling them would average a rho=0.5 run into "saerl"), and
each sweep gets its full report in ``<out>/<sweep>/``; the preliminary study's figures come from
the signals folder. ``<out>/index.md`` lists what was built and from where.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from analysis.tidy import RunSet


def concat(sets: Sequence[RunSet]) -> RunSet:
    table = pd.concat([s.table for s in sets], ignore_index=True)
    runs = pd.concat([s.runs for s in sets], ignore_index=True)
    if runs["run"].duplicated().any():
        dup = sorted(set(runs.loc[runs["run"].duplicated(), "run"]))
        raise ValueError(f"the same run is in two locations: {dup[:5]}")
    return RunSet(table, runs)


def by_sweep(rs: RunSet) -> dict[str, RunSet]:
    out = {}
    for sweep in sorted(rs.runs["sweep"].dropna().astype(str).unique()):
        out[sweep] = rs.only(rs.runs.loc[rs.runs["sweep"] == sweep, "run"])
    return out


def write_paper(
    locations: Sequence[str],
    out: Path,
    store_dir: Path | None,
    signals_dir: Path | None,
    source: str = "auto",
    cache: str = "reports/.wandb-cache",
) -> Path:
    from analysis.report import write_report
    from analysis.sources import load_runs

    start = time.time()
    found, missing = [], []
    for loc in locations:
        if not loc.startswith("wandb:") and not Path(loc).exists():
            missing.append(loc)
            continue
        found.append(load_runs(loc, source, "", cache))
    if not found:
        raise FileNotFoundError(f"paper: none of {list(locations)} exists; run the sweeps first")
    sweeps = by_sweep(concat(found))
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# saerl study: every table and figure", ""]
    lines += [
        f"Rebuilt from logged runs in: {', '.join(f'`{loc}`' for loc in locations if loc not in missing)}."
    ]
    if missing:
        lines += [f"Not found (left out): {', '.join(f'`{m}`' for m in missing)}."]
    lines += ["", "| sweep | runs | complete | report |", "|---|---|---|---|"]
    for name, rs in sweeps.items():
        report = write_report(
            rs, out / name, title=f"saerl study: {name}", store_dir=store_dir, signals_dir=signals_dir
        )
        done = int((rs.runs["state"] == "done").sum())
        lines.append(f"| {name} | {len(rs.runs)} | {done} | [{name}/report.md]({report.relative_to(out)}) |")
    lines += ["", f"Built in {time.time() - start:.1f} s."]
    (out / "index.md").write_text("\n".join(lines) + "\n")
    return out / "index.md"
