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


def safe_folder(name: str) -> bool:
    """One plain path component (what saerl's config allows as a sweep name)."""
    return bool(name) and name not in (".", "..") and not any(c in name for c in "/\\\x00")


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


def _last_eval_step(rs: RunSet, runs: Sequence[str]) -> set[int]:
    from analysis.tidy import ACCURACY

    t = rs.table[(rs.table["metric"] == ACCURACY) & rs.table["run"].isin(list(runs))]
    return set(t.groupby("run")["step"].max().astype(int))


def with_vanilla(sweeps: dict[str, RunSet], everything: RunSet) -> dict[str, tuple[RunSet, str]]:
    """Each sweep's runs, plus vanilla runs borrowed from another sweep where the sweep has other
    methods for a (source, target) pair but no vanilla of its own (the rho sweep runs only SAERL):
    borrowed runs have the same source and target models and end at the same eval step, and come
    from the sweep with the most of them. Returns (runs, a note saying what was borrowed)."""
    from analysis.measures import BASELINE

    out = {}
    for name, rs in sweeps.items():
        add: list[str] = []
        notes = []
        for (source, target), group in rs.runs.groupby(["source_model", "target_model"]):
            if (group["method"] == BASELINE).any():
                continue
            steps = _last_eval_step(rs, group["run"].tolist())
            pool = everything.runs[
                (everything.runs["method"] == BASELINE)
                & (everything.runs["source_model"] == source)
                & (everything.runs["target_model"] == target)
                & (everything.runs["sweep"] != name)
            ]
            pool = (
                pool[[bool(_last_eval_step(everything, [r]) & steps) for r in pool["run"]]]
                if len(pool)
                else pool
            )
            if pool.empty:
                continue
            donor = pool["sweep"].value_counts().idxmax()
            runs = sorted(pool.loc[pool["sweep"] == donor, "run"])
            add += runs
            notes.append(f"vanilla for {target} ({len(runs)} runs) from sweep {donor}")
        if add:
            rs = concat([rs, everything.only(add)])
        out[name] = (rs, "; ".join(notes))
    return out


def write_paper(
    locations: Sequence[str],
    out: Path,
    store_dir: Path | None,
    signals_dir: Path | None,
    source: str = "auto",
    cache: str = "reports/.wandb-cache",
    export: Path | None = None,
    readme: Path | None = None,
) -> Path:
    """One report per sweep under ``out`` and its index; ``export``: also write the runs' tidy results
    there (analysis/results.py); ``readme``: rewrite its results table from the runs read."""
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
    everything = concat(found)
    if readme is not None:  # checked before anything is written
        from analysis.results import readme_parts

        readme_parts(readme)
    sweeps = with_vanilla(by_sweep(everything), everything)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# saerl study: every table and figure", ""]
    lines += [
        f"Rebuilt from logged runs in: {', '.join(f'`{loc}`' for loc in locations if loc not in missing)}."
    ]
    if missing:
        lines += [f"Not found (left out): {', '.join(f'`{m}`' for m in missing)}."]
    lines += ["", "| sweep | runs | complete | reference | report |", "|---|---|---|---|---|"]
    for name, (rs, note) in sweeps.items():
        if not safe_folder(name):  # a sweep name read from logged runs: it must stay under out/
            lines.append(f"| {name!r} | {len(rs.runs)} | - | - | left out: not a plain folder name |")
            continue
        report = write_report(
            rs, out / name, title=f"saerl study: {name}", store_dir=store_dir, signals_dir=signals_dir,
            note=f"Reference runs borrowed: {note}." if note else "",
        )  # fmt: skip
        done = int((rs.runs["state"] == "done").sum())
        link = f"[{name}/report.md]({report.relative_to(out)})"
        lines.append(f"| {name} | {len(rs.runs)} | {done} | {note or '-'} | {link} |")
    if export is not None:
        from analysis.results import export as export_results

        written = export_results(everything, export)
        lines += ["", f"Results exported to {', '.join(f'`{p}`' for p in written)}."]
    if readme is not None:
        from analysis.results import front_table, write_readme

        changed = write_readme(readme, front_table(everything))
        lines += ["", f"Results table in `{readme}`: {'rewritten' if changed else 'unchanged'}."]
    lines += ["", f"Built in {time.time() - start:.1f} s."]
    (out / "index.md").write_text("\n".join(lines) + "\n")
    return out / "index.md"
