"""The per-run summary printed after a sweep: accuracy before RL, final and best accuracy, and
steps-to-target against the vanilla runs of the same target model."""

from __future__ import annotations

from typing import Any

from analysis.convergence import best, mean_curve, steps_to_target
from analysis.measures import BASELINE, curves, runs_of
from analysis.tidy import RunSet


def vanilla_targets(rs: RunSet) -> dict[str, float]:
    """Per target model: the best accuracy of the vanilla mean curve over its finished seeds."""
    done, by_run = rs.done(), curves(rs)
    out = {}
    for target in done.runs["target_model"].dropna().unique():
        cs = [by_run[r] for r in runs_of(done, target_model=target, method=BASELINE) if r in by_run]
        if cs and mean_curve(cs):
            out[target] = best(mean_curve(cs))
    return out


def summary_rows(rs: RunSet) -> list[dict[str, Any]]:
    targets, by_run = vanilla_targets(rs), curves(rs)
    rows = []
    for run in rs.runs.itertuples(index=False):
        curve = by_run.get(run.run, [])
        target = targets.get(run.target_model)
        rows.append({
            "run": run.run, "target_model": run.target_model, "method": run.method, "seed": run.seed,
            "state": run.state,
            "acc_step0": curve[0][1] if curve and curve[0][0] == 0 else None,
            "acc_final": curve[-1][1] if curve else None,
            "final_step": curve[-1][0] if curve else None,
            "acc_best": best(curve) if curve else None,
            "target": target,
            "steps_to_target": steps_to_target(curve, target) if curve and target is not None else None,
        })  # fmt: skip
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    def pct(v: Any) -> str:
        return "-" if v is None else f"{100 * v:5.1f}"

    head = (
        f"{'target':<10} {'method':<18} {'seed':>4} {'state':<8} {'step0':>6} {'final':>6} {'best':>6} "
        f"{'steps-to-target':>16}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        stt = (
            "-"
            if r["target"] is None
            else (str(r["steps_to_target"]) if r["steps_to_target"] is not None else "not reached")
        )
        lines.append(
            f"{r['target_model']!s:<10} {r['method']!s:<18} {r['seed']!s:>4} {r['state']:<8} "
            f"{pct(r['acc_step0']):>6} {pct(r['acc_final']):>6} {pct(r['acc_best']):>6} {stt:>16}"
        )
    lines.append(
        "accuracy = greedy eval/average (%); target = best of the vanilla mean curve per target model"
    )
    return "\n".join(lines)
