"""The study report: tables (markdown + LaTeX) and figures (PNG + PDF) from the tidy table.

Each section is a function of the RunSet; `write_report` runs them and writes report.md. Only
finished runs with the needed metric are averaged; the others are listed at the top of the report.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import tables
from analysis.comparisons import (
    ablations,
    convergence_table,
    cost,
    main_table,
    preliminary,
    split_rho,
    transfer,
)
from analysis.measures import BASELINE, FULL, SFT, final, incomplete, mean_sd, runs_of
from analysis.tables import pct
from analysis.tidy import ACCURACY, RunSet


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


def section_interpretation(ctx: ReportContext) -> list[str]:
    from analysis.interpretation import sections

    return sections(ctx.ok, ctx.out)


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
