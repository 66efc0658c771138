"""The report's comparisons as tables: final accuracy per method and target, convergence (steps
to a target accuracy), transfer across source models, ablations against vanilla, the cost of each
stage (from the store's manifests) and the preliminary study of the SAE signals. Each is a function
of the tidy RunSet; analysis/report.py lays them out as sections."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.convergence import Curve, Gain, best, gain_ci, mean_curve, steps_ratio, steps_to_target
from analysis.measures import BASELINE, FULL, SFT, at_step, curves, final, mean_sd, runs_of
from analysis.tables import pct
from analysis.tidy import ACCURACY, RunSet, eval_sets

POOL_FRACTION = "data/pool_fraction"
KEPT_FRACTION = "data/kept_fraction"


def _ratio_text(r: float | None) -> str:
    if r is None:
        return "undefined"
    return "not reached" if math.isinf(r) else f"{r:.2f}"


def main_table(rs: RunSet) -> pd.DataFrame:
    """Final accuracy per eval set and on average, per (target, method), mean ± sd over seeds,
    with the model before RL (step 0) as the first row of each target."""
    sets = eval_sets(rs.table["metric"].unique())
    metrics = [f"eval/{s}/accuracy" for s in sets] + [ACCURACY]
    finals = {m: final(rs, m) for m in metrics}
    starts = {m: at_step(rs, 0, m) for m in metrics}
    seen, kept_seen = final(rs, POOL_FRACTION), final(rs, KEPT_FRACTION)
    rows = []
    for target in sorted(rs.runs["target_model"].dropna().unique()):
        runs = runs_of(rs, target_model=target)
        base: dict[str, Any] = {
            "target": target,
            "method": "before RL (step 0)",
            "seeds": "-",
            "pool seen": "-",
            "kept seen": "-",
        }
        for s, m in zip([*sets, "average"], metrics, strict=True):
            vals = starts[m].reindex(runs).dropna()
            base[s] = pct(vals.mean() if len(vals) else None)
        rows.append(base)
        for method in sorted(rs.runs.loc[rs.runs["target_model"] == target, "method"].dropna().unique()):
            mruns = runs_of(rs, target_model=target, method=method)
            shares = seen.reindex(mruns).dropna()
            kept_shares = kept_seen.reindex(mruns).dropna()
            row: dict[str, Any] = {
                "target": target,
                "method": method,
                "seeds": len(mruns),
                "pool seen": pct(shares.mean()) if len(shares) else "-",
                "kept seen": pct(kept_shares.mean()) if len(kept_shares) else "-",
            }
            for s, m in zip([*sets, "average"], metrics, strict=True):
                vals = finals[m].reindex(mruns).dropna()
                mean, sd, _ = mean_sd(vals) if len(vals) else (None, None, 0)
                row[s] = pct(mean, sd)
            rows.append(row)
    return pd.DataFrame(
        rows, columns=["target", "method", "seeds", *sets, "average", "pool seen", "kept seen"]
    )


def convergence_table(
    rs: RunSet, target_acc: float | None = None, n_boot: int = 2000
) -> tuple[pd.DataFrame, dict[tuple[str, str], Any]]:
    """Steps-to-target of each method over vanilla, per target model, with a bootstrap 95% CI."""
    by_run = curves(rs)
    rows, ratios = [], {}
    for target in sorted(rs.runs["target_model"].dropna().unique()):
        vanilla = [by_run[r] for r in runs_of(rs, target_model=target, method=BASELINE) if r in by_run]
        methods = sorted(
            set(rs.runs.loc[rs.runs["target_model"] == target, "method"].dropna()) - {BASELINE, SFT}
        )
        for method in methods:
            mine = [by_run[r] for r in runs_of(rs, target_model=target, method=method) if r in by_run]
            if not vanilla or not mine:
                continue
            r = steps_ratio(mine, vanilla, target_acc, n_boot=n_boot)
            ratios[(target, method)] = r
            if min(len(mine), len(vanilla)) < 2:
                ci = "n/a (1 seed)"  # resampling one seed gives a zero-width interval, not a CI
            else:
                ci = "-" if r.low is None else f"[{_ratio_text(r.low)}, {_ratio_text(r.high)}]"
            rows.append(
                {
                    "target": target,
                    "method": method,
                    "seeds (method/vanilla)": f"{len(mine)}/{len(vanilla)}",
                    "target accuracy": pct(r.target),
                    "steps (method)": "not reached" if r.method_steps is None else r.method_steps,
                    "steps (vanilla)": "not reached" if r.vanilla_steps is None else r.vanilla_steps,
                    "ratio": _ratio_text(r.ratio),
                    "95% CI": ci,
                }
            )
    cols = [
        "target",
        "method",
        "seeds (method/vanilla)",
        "target accuracy",
        "steps (method)",
        "steps (vanilla)",
    ]
    return pd.DataFrame(rows, columns=[*cols, "ratio", "95% CI"]), ratios


def transfer(rs: RunSet, ratios: dict[tuple[str, str], Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(table, gain matrix): per source x target, SAERL's final accuracy minus vanilla's (points)
    and its steps-to-target ratio. Vanilla does not use the SAE, so every source shares it."""
    fin = final(rs)
    rows = []
    for (source, target), _ in rs.runs[rs.runs["method"] == FULL].groupby(["source_model", "target_model"]):
        s = fin.reindex(runs_of(rs, source_model=source, target_model=target, method=FULL)).dropna()
        v = fin.reindex(runs_of(rs, target_model=target, method=BASELINE)).dropna()
        gain = 100 * (s.mean() - v.mean()) if len(s) and len(v) else float("nan")
        ratio = ratios.get((target, FULL))
        rows.append(
            {
                "source (SAE)": source,
                "target (RL)": target,
                "seeds (saerl/vanilla)": f"{len(s)}/{len(v)}",
                "gain (points)": "-" if math.isnan(gain) else f"{gain:+.1f}",
                "steps-to-target ratio": _ratio_text(ratio.ratio) if ratio else "-",
                "_gain": gain,
            }
        )
    table = pd.DataFrame(rows)
    if table.empty:
        return table, pd.DataFrame()
    matrix = table.pivot(index="source (SAE)", columns="target (RL)", values="_gain")
    return table.drop(columns="_gain"), matrix


def _gain_cells(g: Gain) -> dict[str, Any]:
    ci = "n/a (1 seed)"
    if g.low is not None and g.high is not None:
        ci = f"[{100 * g.low:+.1f}, {100 * g.high:+.1f}]"
    return {
        "gain (points)": f"{100 * g.gain:+.1f}",
        "95% CI": ci,
        "_gain": g.gain,
        "_low": g.low,
        "_high": g.high,
    }


def _against_vanilla(
    fin: pd.Series,
    by_run: dict[str, Curve],
    runs: list[str],
    vanilla: list[str],
    goal: float | None,
    n_boot: int,
    no_curve: bool = False,
) -> dict[str, Any]:
    """One row of the ablation/rho tables: ``runs``'s final accuracy, gain over ``vanilla`` with its
    bootstrap CI (none for vanilla itself), and the step where their mean curve reaches ``goal``
    ('-' with ``no_curve``: the SFT baseline, trained for wall time rather than steps)."""
    vals, van = fin.reindex(runs).dropna(), fin.reindex(vanilla).dropna()
    mean, sd, n = mean_sd(vals)
    row: dict[str, Any] = {"seeds": n, "final": pct(mean, sd), "_mean": mean, "_sd": sd}
    if len(van) and n and sorted(runs) != sorted(vanilla):
        row |= _gain_cells(gain_ci(vals.tolist(), van.tolist(), n_boot))
    else:
        row |= {"gain (points)": "-", "95% CI": "-", "_gain": None, "_low": None, "_high": None}
    row["steps to target"], row["_steps"] = "-", None
    if goal is not None and not no_curve:
        curve = mean_curve([by_run[r] for r in runs if r in by_run])
        steps = steps_to_target(curve, goal) if curve else None
        row["steps to target"], row["_steps"] = ("not reached" if steps is None else steps), steps
    return row


def ablations(
    rs: RunSet, target_acc: float | None = None, n_boot: int = 2000
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-method table, rho table), per target model. Each row: final accuracy (mean ± sd over
    seeds), the gain over vanilla's mean final accuracy in points with a 95% bootstrap interval over
    seeds, and the first eval step where the row's mean curve reaches the target (vanilla's best
    mean accuracy unless given). The rho table has SAERL's runs by mixing ratio; a method run at
    several rho values appears there only. Columns starting with '_' are numbers for the figures."""
    fin, by_run = final(rs), curves(rs)
    method_rows: list[dict[str, Any]] = []
    rho_rows: list[dict[str, Any]] = []
    for target in sorted(rs.runs["target_model"].dropna().unique()):
        vanilla = runs_of(rs, target_model=target, method=BASELINE)
        van_curve = mean_curve([by_run[r] for r in vanilla if r in by_run])
        goal = target_acc if target_acc is not None else (best(van_curve) if van_curve else None)
        in_target = rs.runs[rs.runs["target_model"] == target]
        labelled = split_rho(rs.only(in_target["run"]))
        for method in sorted(labelled.runs["method"].dropna().unique()):
            if " [rho=" not in str(method):
                runs = runs_of(labelled, method=method)
                row = _against_vanilla(fin, by_run, runs, vanilla, goal, n_boot, no_curve=method == SFT)
                method_rows.append({"target": target, "method": method} | row)
        full = in_target[in_target["method"] == FULL]
        for rho in sorted(full["rho"].dropna().unique()):
            rho_runs = sorted(full.loc[full["rho"] == rho, "run"])
            row = _against_vanilla(fin, by_run, rho_runs, vanilla, goal, n_boot)
            rho_rows.append({"target": target, "rho": float(rho), "target accuracy": pct(goal)} | row)
    cells = ["seeds", "final", "_mean", "_sd", "gain (points)", "95% CI", "_gain", "_low", "_high"]
    cells += ["steps to target", "_steps"]
    return (
        pd.DataFrame(method_rows, columns=["target", "method", *cells]),
        pd.DataFrame(rho_rows, columns=["target", "rho", "target accuracy", *cells]),
    )


def split_rho(rs: RunSet) -> RunSet:
    """The runs with a method's rho in its label where one target has that method at several rho
    values (the rho sweep): the main table and convergence must not average rho=0 and rho=0.5
    runs together as seeds of one method."""
    runs = rs.runs.copy()
    varied = runs.groupby(["target_model", "method"])["rho"].transform("nunique") > 1
    if not varied.any():
        return rs
    label = runs["method"].astype(str) + " [rho=" + runs["rho"].map(lambda r: f"{r:g}") + "]"
    runs.loc[varied, "method"] = label[varied]
    table = rs.table.drop(columns="method").merge(runs[["run", "method"]], on="run", how="left")
    return RunSet(table[list(rs.table.columns)], runs)


def cost(store_dir: Path | None, rs: RunSet) -> pd.DataFrame:
    """Wall and accelerator hours per stage, from the artifact manifests under ``store_dir``, plus
    the wall time every RL run logged (failed ones included: their compute was spent)."""
    groups = {
        "sft": "warm-start SFT",
        "activations": "SAE training (activations)",
        "sae": "SAE training",
        "features": "scoring (features)",
        "signals": "scoring (clusters, probes)",
        "labels": "rollout labelling",
        "curriculum": "curriculum",
    }
    rows = []
    if store_dir is not None and Path(store_dir).is_dir():
        for manifest in sorted(Path(store_dir).glob("*/*/manifest.json")):
            m = json.loads(manifest.read_text())
            stage = "sft" if m["stage"] == "model" else m["stage"]
            if stage in groups:
                rows.append((groups[stage], m["wall_seconds"], m["accelerator_seconds"]))
    wall = rs.metric("wall_time").groupby("run")["value"].max()
    rows += [("RL (all runs)", float(w), float("nan")) for w in wall]
    df = pd.DataFrame(rows, columns=["stage", "wall_s", "accel_s"])
    if df.empty:
        return pd.DataFrame(columns=["stage", "artifacts/runs", "wall hours", "accelerator hours"])
    order = [*dict.fromkeys(groups.values()), "RL (all runs)"]
    out = df.groupby("stage").agg(n=("wall_s", "size"), wall=("wall_s", "sum"))
    out["accel"] = df.groupby("stage")["accel_s"].sum(min_count=1)  # NaN: not logged (RL runs)
    out = out.reindex([name for name in order if name in out.index])
    return pd.DataFrame(
        {
            "stage": out.index,
            "artifacts/runs": out["n"].to_numpy(),
            "wall hours": [f"{w / 3600:.3f}" for w in out["wall"]],
            "accelerator hours": ["-" if math.isnan(a) else f"{a / 3600:.3f}" for a in out["accel"]],
        }
    )


def preliminary(signals_dir: Path | None, out: Path) -> tuple[pd.DataFrame, list[Path]]:
    """Headline numbers and figures of the preliminary study (`saerl study-signals` output)."""
    if signals_dir is None or not (Path(signals_dir) / "study.json").exists():
        return pd.DataFrame(), []
    study = json.loads((Path(signals_dir) / "study.json").read_text())
    rows = []
    if tp := study.get("topic_probe"):
        rows.append(
            (
                "topic probe accuracy (majority baseline)",
                f"{tp['accuracy']:.3f} ({tp['majority_baseline']:.3f})",
            )
        )
    for split, key in (
        ("in distribution", "in_distribution"),
        ("out of distribution", "out_of_distribution"),
    ):
        d = study.get("difficulty", {}).get(key, {})
        for name, v in d.items():
            if isinstance(v, dict) and isinstance(v.get("pearson"), float) and not math.isnan(v["pearson"]):
                rows.append(
                    (
                        f"difficulty {split}: {name} Pearson / Spearman",
                        f"{v['pearson']:.3f} / {v['spearman']:.3f}",
                    )
                )
    for name, v in study.get("quality", {}).items():
        if isinstance(v, dict) and "auc" in v:
            rows.append((f"quality AUC: {name}", f"{v['auc']:.3f}"))
    figures = []
    for f in sorted(Path(signals_dir).glob("*.png")) + sorted(Path(signals_dir).glob("*.pdf")):
        dest = out / "figures" / "preliminary" / f.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, dest)
        figures.append(dest)
    return pd.DataFrame(rows, columns=["measure", "value"]), figures
