"""The paired comparison of a method with vanilla, declared before the runs: vanilla and the method
of one replicate (`replicate`: one independent draw of the whole pipeline) form a pair, and the
inference is over pairs.

Per pair: the difference in final accuracy, the difference in the area under the accuracy curve
(the mean accuracy over the evaluations, trapezoids over steps), and the steps the method needs to
reach the pair's vanilla final level, as a ratio to the vanilla run's last step. Across pairs: the
mean difference with a two-sided Student t interval (valid for n >= 2 pairs whose differences are
roughly normal; its coverage on simulated data is tested), and an exact two-sided sign test (no
distributional assumption; ties dropped). The number of pairs is always stated. The bootstrap is not
used here: with a handful of pairs its percentile interval undercovers (analysis/LOG.md).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import pandas as pd

from analysis.convergence import Curve, steps_to_target
from analysis.measures import BASELINE, curves, final
from analysis.tidy import ACCURACY, RunSet


class PairedSummary(NamedTuple):
    n: int
    mean: float | None
    low: float | None
    high: float | None
    """The two-sided t interval at ``level`` (None below 2 pairs)."""
    positive: int
    negative: int
    sign_p: float | None
    """Exact two-sided sign test p-value (None without a non-zero difference)."""


def t_interval(
    diffs: Sequence[float], level: float = 0.95
) -> tuple[float | None, float | None, float | None]:
    """(mean, low, high) of the paired differences: mean +- t_{n-1} * sd / sqrt(n)."""
    from scipy import stats

    n = len(diffs)
    if n == 0:
        return None, None, None
    mean = sum(diffs) / n
    if n < 2:
        return mean, None, None
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def sign_test(diffs: Sequence[float]) -> tuple[int, int, float | None]:
    """(positives, negatives, exact two-sided p) of the differences, zeros dropped."""
    from scipy import stats

    pos, neg = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
    if pos + neg == 0:
        return pos, neg, None
    return pos, neg, float(stats.binomtest(pos, pos + neg, 0.5).pvalue)


def summarize(diffs: Sequence[float], level: float = 0.95) -> PairedSummary:
    mean, low, high = t_interval(diffs, level)
    pos, neg, p = sign_test(diffs)
    return PairedSummary(len(diffs), mean, low, high, pos, neg, p)


def auc(curve: Curve) -> float | None:
    """Mean accuracy over the curve's span (trapezoids over steps); None for under two points."""
    if len(curve) < 2:
        return None
    area = sum((s2 - s1) * (v1 + v2) / 2 for (s1, v1), (s2, v2) in itertools.pairwise(curve))
    return area / (curve[-1][0] - curve[0][0])


def pairs(rs: RunSet, method: str, baseline: str = BASELINE, metric: str = ACCURACY) -> pd.DataFrame:
    """One row per (target, replicate) that has a finished baseline run and a finished method run."""
    done = rs.runs[rs.runs["state"] == "done"]
    finals, all_curves = final(rs, metric), curves(rs, metric)
    rows: list[dict[str, Any]] = []
    for (target, rep), group in done.groupby(["target_model", "replicate"], dropna=True):
        by_method = {m: g["run"].tolist() for m, g in group.groupby("method")}
        if len(by_method.get(baseline, [])) != 1 or len(by_method.get(method, [])) != 1:
            continue  # a pair is exactly one run of each
        v, m = by_method[baseline][0], by_method[method][0]
        cv, cm = all_curves.get(v, []), all_curves.get(m, [])
        if v not in finals.index or m not in finals.index:
            continue
        reached = steps_to_target(cm, float(finals[v])) if cm else None
        auc_v, auc_m = auc(cv), auc(cm)
        rows.append(
            {
                "target": target,
                "replicate": int(rep),
                "vanilla": float(finals[v]),
                method: float(finals[m]),
                "final_diff": float(finals[m] - finals[v]),
                "auc_diff": None if auc_v is None or auc_m is None else auc_m - auc_v,
                "steps_ratio": None if reached is None or not cv else reached / cv[-1][0],
            }
        )
    return pd.DataFrame(
        rows, columns=["target", "replicate", "vanilla", method, "final_diff", "auc_diff", "steps_ratio"]
    )


def paired_table(rs: RunSet, method: str, baseline: str = BASELINE, metric: str = ACCURACY) -> pd.DataFrame:
    """Per target: pairs, mean final and AUC differences (points) with t intervals, the sign test,
    the median steps ratio to the pair's vanilla final level."""
    table = pairs(rs, method, baseline, metric)
    out = []
    for target, group in table.groupby("target"):
        f = summarize(group["final_diff"].tolist())
        a = summarize(group["auc_diff"].dropna().tolist())
        ratios = group["steps_ratio"].dropna()
        out.append(
            {
                "target": target,
                "pairs": f.n,
                "final diff (points)": _points(f.mean),
                "95% t interval": _interval(f),
                "sign test (+/-, p)": f"{f.positive}/{f.negative}, p={f.sign_p:.3f}"
                if f.sign_p is not None
                else "-",
                "AUC diff (points)": _points(a.mean),
                "AUC 95% t interval": _interval(a),
                "steps to vanilla's final (median ratio)": f"{ratios.median():.2f} ({len(ratios)} of {f.n})"
                if len(ratios)
                else f"not reached (0 of {f.n})",
            }
        )
    return pd.DataFrame(out)


def _points(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:+.1f}"


def _interval(s: PairedSummary) -> str:
    if s.low is None or s.high is None:
        return f"n/a ({s.n} pair{'s' if s.n != 1 else ''})"
    return f"[{100 * s.low:+.1f}, {100 * s.high:+.1f}]"
