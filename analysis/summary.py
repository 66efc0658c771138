"""The per-run summary printed after a sweep: accuracy before RL, final and best accuracy, and
steps-to-target against the vanilla runs of the same target model."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from analysis.convergence import best, mean_curve, steps_to_target
from analysis.rundirs import Run


def vanilla_targets(runs: list[Run]) -> dict[str, float]:
    """Per target model: the best average accuracy of the vanilla mean curve (over seeds)."""
    curves = defaultdict(list)
    for run in runs:
        if run.condition.get("method") == "vanilla" and run.state == "done" and run.curve():
            curves[run.condition["target_model"]].append(run.curve())
    return {target: best(mean_curve(cs)) for target, cs in curves.items() if mean_curve(cs)}


def summary_rows(runs: list[Run]) -> list[dict[str, Any]]:
    targets = vanilla_targets(runs)
    rows = []
    for run in runs:
        c, curve = run.condition, run.curve()
        target = targets.get(c.get("target_model", ""))
        rows.append({
            "target_model": c.get("target_model"), "method": c.get("method"), "seed": c.get("seed"),
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
