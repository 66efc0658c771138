"""The study report: tables (markdown + LaTeX) and figures (PNG + PDF) from the tidy table.

Each section is a function of the RunSet; `write_report` runs them and writes report.md. Only
finished runs with the needed metric are averaged; the others are listed at the top of the report.
"""

from __future__ import annotations

import functools
import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import tables
from analysis.convergence import Curve, Gain, best, gain_ci, mean_curve, steps_ratio, steps_to_target
from analysis.measures import BASELINE, FULL, SFT, at_step, curves, final, incomplete, mean_sd, runs_of
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


@dataclass
class ReportContext:
    """What every section reads: the complete runs, where to write, and the report's options."""

    ok: RunSet
    """Complete runs only (finished, with the accuracy metric)."""
    all_runs: RunSet
    out: Path
    store_dir: Path | None
    signals_dir: Path | None
    target_acc: float | None
    n_boot: int

    @property
    def figs(self) -> Path:
        return self.out / "figures"

    @functools.cached_property
    def by_method(self) -> RunSet:
        """``ok`` with rho in the method's label where a method ran at several rho values."""
        return split_rho(self.ok)

    @functools.cached_property
    def convergence(self) -> tuple[pd.DataFrame, dict[tuple[str, str], Any]]:
        return convergence_table(self.by_method, self.target_acc, self.n_boot)


def section_main(ctx: ReportContext) -> list[str]:
    table = main_table(ctx.by_method)
    return [
        "## Main table",
        "",
        tables.write(table, ctx.out, "main", "Final accuracy (%), mean ± sd over seeds"),
    ]


def section_convergence(ctx: ReportContext) -> list[str]:
    from analysis.figures import convergence as convergence_fig

    conv, _ = ctx.convergence
    convergence_fig.plot(ctx.by_method, ctx.figs, target_acc=ctx.target_acc)
    how = f"{pct(ctx.target_acc)}%" if ctx.target_acc is not None else "vanilla's best mean accuracy"
    md = ["## Convergence", "", "![convergence](figures/convergence.png)", ""]
    md += [
        f"Steps-to-target: first eval step where the mean curve over seeds reaches {how}; ratio = "
        f"method / vanilla (<1: faster); 95% CI from {ctx.n_boot} bootstrap resamples of seeds.",
        "",
    ]
    md += [
        tables.write(conv, ctx.out, "convergence", "Steps-to-target relative to vanilla")
        if len(conv)
        else "No vanilla/method pairs."
    ]
    if (ctx.by_method.runs["method"] == SFT).any():
        md += [
            "",
            f"The SFT baseline ({SFT}) trains for an RL run's wall time, not for RL steps: it has no "
            "curve or steps-to-target; the dotted line is its mean final accuracy.",
        ]
    if len(conv) and (conv["ratio"] == "undefined").any():
        md += ["", "undefined: vanilla's mean curve is at its best at step 0 (RL did not improve on it)."]
    return md


def section_transfer(ctx: ReportContext) -> list[str]:
    from analysis.figures import transfer as transfer_fig

    table, matrix = transfer(ctx.by_method, ctx.convergence[1])
    md = ["## Transfer (source model x target model)", ""]
    if not len(table):
        return [*md, "No SAERL runs at a single rho (a rho sweep: see the rho table)."]
    transfer_fig.plot(matrix, ctx.figs)
    return [
        *md,
        "![transfer](figures/transfer.png)",
        "",
        tables.write(table, ctx.out, "transfer", "SAERL over vanilla"),
    ]


def section_ablations(ctx: ReportContext) -> list[str]:
    from analysis.figures import ablations as ablation_fig

    by_method, by_rho = ablations(ctx.ok, ctx.target_acc, ctx.n_boot)
    extra = by_method[~by_method["method"].isin([BASELINE, FULL])] if len(by_method) else by_method
    md = ["## Ablations and rho", ""]
    if len(extra) == 0 and (by_rho.empty or by_rho["rho"].nunique() <= 1):
        return [*md, "No ablation modes or rho values beyond the main comparison in these runs."]
    how = f"{pct(ctx.target_acc)}%" if ctx.target_acc is not None else "vanilla's best mean accuracy"
    md += [
        "Gain: mean final accuracy minus vanilla's, in points; 95% CI: percentile bootstrap over "
        f"seeds ({ctx.n_boot} resamples of each side; n/a with one seed). Steps to target: first "
        f"eval step where the mean curve over seeds reaches {how}.",
        "",
    ]
    shown = ["target", "seeds", "final", "gain (points)", "95% CI", "steps to target"]
    if len(extra):
        ablation_fig.bars(by_method, ctx.figs)
        md += ["![ablations](figures/ablations.png)", ""]
        cols = [*shown[:1], "method", *shown[1:]]
        md += [
            tables.write(
                by_method[cols], ctx.out, "ablations", "Final accuracy and gain over vanilla per method (%)"
            ),
            "",
        ]
    targets = sorted(ctx.ok.runs["target_model"].dropna().unique())
    alone = [t for t in targets if not runs_of(ctx.ok, target_model=t, method=BASELINE)]
    if alone:
        md += [
            f"No vanilla runs for {', '.join(alone)} (none here, none borrowed): no gain or steps to target.",
            "",
        ]
    if not by_rho.empty and by_rho["rho"].nunique() > 1:
        vanilla = by_method[by_method["method"] == BASELINE]
        ablation_fig.rho(by_rho, vanilla, ctx.figs)
        cols = [*shown[:1], "rho", *shown[1:]]
        md += ["![rho](figures/rho.png)", ""]
        md += [tables.write(by_rho[cols], ctx.out, "rho", "SAERL against the mixing ratio rho (%)")]
    return md


def section_cost(ctx: ReportContext) -> list[str]:
    md = [
        "## Cost",
        "",
        tables.write(cost(ctx.store_dir, ctx.all_runs), ctx.out, "cost", "Compute per stage"),
    ]
    if ctx.store_dir is not None:
        md += [
            "",
            f"Stages: every artifact manifest under `{ctx.store_dir}`; RL: the runs' logged wall time.",
        ]
    return md


def section_preliminary(ctx: ReportContext) -> list[str]:
    prelim, prelim_figs = preliminary(ctx.signals_dir, ctx.out)
    if not len(prelim):
        return []
    md = [
        "## Preliminary study (SAE signals)",
        "",
        tables.write(prelim, ctx.out, "preliminary", "Preliminary study"),
    ]
    return (
        md + [""] + [f"![{f.stem}](figures/preliminary/{f.name})" for f in prelim_figs if f.suffix == ".png"]
    )


def interpretation(ok: RunSet, method: str = "saerl") -> tuple[Path, dict[str, Any]] | None:
    """The interpret.json of the first ``method`` run's curriculum (run folders record it in
    status.json), or None (other sources, or curricula without SAE features)."""

    runs = ok.runs.sort_values("run")
    for origin in runs.loc[runs["method"].astype(str).str.startswith(method), "origin"]:
        status = Path(str(origin)) / "status.json"
        if not status.is_file():
            continue
        cur = json.loads(status.read_text()).get("curriculum")
        found = Path(cur) / "interpret.json" if cur else None
        if found is not None and found.is_file():
            return found, json.loads(found.read_text())
    return None


def _short(text: str, n: int = 70) -> str:
    text = " ".join(str(text).split()).replace("|", "/")
    return text if len(text) <= n else text[: n - 1] + "…"


def section_interpretation(ctx: ReportContext) -> list[str]:
    found = interpretation(ctx.ok)
    md = [] if found is None else _saerl_interpretation(ctx, *found)
    return md + _coverage_interpretation(ctx)


def _coverage_interpretation(ctx: ReportContext) -> list[str]:
    """Which SAE clusters coverage selection took (the first coverage run's curriculum)."""
    found = interpretation(ctx.ok, "coverage")
    if found is None or not found[1].get("coverage"):
        return []
    path, info = found
    rows = [
        {
            "cluster": c["cluster"],
            "size": c["size"],
            "selected": c["selected"],
            "share": f"{c['selected_share']:.0%}",
            "learnability (selected)": "-"
            if c["selected_learnability"] is None
            else f"{c['selected_learnability']:.3f}",
            "learnability (left)": "-" if c["left_learnability"] is None else f"{c['left_learnability']:.3f}",
            "topics selected": ", ".join(f"{t} {share:.0%}" for t, share in c["selected_topics"]),
        }
        for c in info["coverage"]
    ]
    caption = "Coverage selection: what it took from each SAE cluster"
    return [
        "## Coverage selection",
        "",
        f"From `{path}` (the curriculum of the first coverage run). Learnability is 4p(1-p) of the pass "
        "rate p (rollout labels where present, the difficulty proxy elsewhere).",
        "",
        tables.write(pd.DataFrame(rows), ctx.out, "coverage", caption),
    ]


def _saerl_interpretation(ctx: ReportContext, path: Path, info: dict[str, Any]) -> list[str]:
    md = ["## Interpretable signals", "", f"From `{path}` (the curriculum of the first SAERL run)."]
    clusters = pd.DataFrame(
        [
            {
                "cluster": c["cluster"],
                "size": c["size"],
                "topics": ", ".join(f"{t} {share:.0%}" for t, share in c["topics"]),
                "mean predicted difficulty": round(c["mean_difficulty"], 3),
                "defining latents (lift)": ", ".join(f"#{j} ({v:+.3g})" for j, v in c["defining_latents"]),
                "central prompt": _short(c["central_prompts"][0]) if c["central_prompts"] else "",
            }
            for c in info["clusters"]
        ]
    )
    md += ["", tables.write(clusters, ctx.out, "clusters", "SAE clusters of the kept prompts")]
    if info.get("difficulty_latents"):
        rows = [
            {
                "direction": "harder" if sign == "positive" else "easier",
                "latent": f"#{e['latent']}",
                "weight": f"{e['weight']:+.3g}",
                "fires on": f"{e['fires_on']:.1%}",
                "top prompts' predicted difficulty": (
                    f"{e['top_mean_difficulty']:.3f}" if e["top_mean_difficulty"] is not None else "-"
                ),
                "most activating prompt": _short(e["top_prompts"][0]) if e["top_prompts"] else "",
            }
            for sign in ("positive", "negative")
            for e in info["difficulty_latents"][sign][:5]
        ]
        caption = "The difficulty proxy's strongest latents"
        md += ["", tables.write(pd.DataFrame(rows), ctx.out, "difficulty_latents", caption)]
    if info.get("quality_filter"):
        rows = [
            {"noise": kind, "dropped": v["dropped"], "kept": v["kept"],
             "dropped share": f"{v['dropped'] / max(1, v['dropped'] + v['kept']):.0%}"}
            for kind, v in info["quality_filter"].items()
        ]  # fmt: skip
        md += [
            "",
            tables.write(pd.DataFrame(rows), ctx.out, "quality_filter", "What the quality filter dropped"),
        ]
    return md


def section_paired(ctx: ReportContext) -> list[str]:
    """Vanilla and SAERL of one replicate as a pair (analysis/paired.py), where runs declare one."""
    from analysis.paired import paired_table

    table = paired_table(ctx.ok, FULL)
    if table.empty:
        return []
    return [
        "## Paired comparison (SAERL - vanilla, one pair per replicate)",
        "",
        "Each replicate re-draws the whole pipeline (SAE, labels, clusters, probes, curriculum, RL seed); "
        "differences are per pair, intervals are Student t over pairs, the sign test is exact.",
        "",
        tables.write(table, ctx.out, "paired", "SAERL - vanilla per pair (points), over pairs"),
    ]


CLIP = "train/clip_ratio/region_mean"
ZERO_STD = "train/frac_reward_zero_std"


def section_dynamics(ctx: ReportContext) -> list[str]:
    """Per target and method: the share of tokens whose ratio was clipped (0 at one update per batch:
    then DAPO's clip-higher never acts) and the share of groups whose rewards were all equal (they
    give no signal, yet count in a token-mean loss), averaged over steps and runs (TRL's logs)."""
    rs = ctx.by_method
    have = set(rs.table["metric"].unique())
    if CLIP not in have and ZERO_STD not in have:
        return []
    rows = []
    for (target, method), group in rs.runs.groupby(["target_model", "method"]):
        runs = set(group["run"])
        row: dict[str, Any] = {"target": target, "method": method, "runs": len(runs)}
        for name, metric in (("clipped tokens", CLIP), ("groups with equal rewards", ZERO_STD)):
            df = rs.metric(metric)
            values = df[df["run"].isin(runs)]["value"]
            row[name] = f"{100 * values.mean():.1f}%" if len(values) else "-"
        rows.append(row)
    return [
        "## Clipping and signal per step (mean over steps and runs)",
        "",
        tables.write(pd.DataFrame(rows), ctx.out, "dynamics", "Clipped-token share and zero-signal groups"),
    ]


def section_novel(ctx: ReportContext) -> list[str]:
    """Final accuracy on the held-out items whose computation no training prompt asks (the
    miniature marks them; eval/<set>/accuracy_novel), per target and method, mean ± sd over runs."""
    rs = ctx.by_method
    metrics = sorted(m for m in rs.table["metric"].unique() if str(m).endswith("/accuracy_novel"))
    if not metrics:
        return []
    finals = {m: final(rs, m) for m in metrics}
    rows = []
    for (target, method), group in rs.runs.groupby(["target_model", "method"]):
        row: dict[str, Any] = {"target": target, "method": method, "runs": len(group)}
        for m in metrics:
            vals = finals[m].reindex(group["run"]).dropna()
            mean, sd, _ = mean_sd(vals) if len(vals) else (None, None, 0)
            row[m.split("/")[1]] = pct(mean, sd)
        rows.append(row)
    return [
        "## Accuracy on items no training prompt computes",
        "",
        "Held-out items whose operations and operands no RL or SFT prompt asks (the rest repeat a "
        "trained computation in other words); final accuracy (%), mean ± sd over runs.",
        "",
        tables.write(pd.DataFrame(rows), ctx.out, "novel", "Final accuracy on novel computations (%)"),
    ]


SECTIONS = (
    section_main,
    section_novel,
    section_paired,
    section_dynamics,
    section_convergence,
    section_transfer,
    section_ablations,
    section_cost,
    section_preliminary,
    section_interpretation,
)
"""The report's sections, in order; each returns its markdown lines (empty: section left out)."""


def write_report(
    rs: RunSet,
    out: Path,
    title: str = "saerl report",
    store_dir: Path | None = None,
    signals_dir: Path | None = None,
    target_acc: float | None = None,
    n_boot: int = 2000,
    note: str = "",
) -> Path:
    """Write ``out``/report.md with tables/ and figures/; returns the report's path. ``note``: a line
    under the title (e.g. which reference runs came from another sweep)."""
    out.mkdir(parents=True, exist_ok=True)
    skipped = incomplete(rs)
    ok = rs.only(set(rs.runs["run"]) - set(skipped["run"]))
    md = [f"# {title}", ""]
    md += [f"Runs: {len(rs.runs)} ({len(ok.runs)} complete). Accuracy: `{ACCURACY}` (greedy, %), "
           "final = the last evaluation."]  # fmt: skip
    if note:
        md += ["", note]
    md += ["", "## Incomplete runs (not averaged in)", ""]
    md += [tables.write(skipped, out, "incomplete", "Runs left out") if len(skipped) else "None."]
    if ok.runs.empty:
        md += ["", "No complete runs: nothing to report."]
    else:
        ctx = ReportContext(ok, rs, out, store_dir, signals_dir, target_acc, n_boot)
        for section in SECTIONS:
            lines = section(ctx)
            if lines:
                md += ["", *lines]
    (out / "report.md").write_text("\n".join(md) + "\n")
    return out / "report.md"
