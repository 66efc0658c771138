"""The paired analysis (analysis/paired.py): pairs by replicate, differences per pair, a t interval
whose coverage holds on simulated data, the sign test, and the report section."""

from __future__ import annotations

import math
import random

import pytest

from analysis.paired import auc, paired_table, pairs, sign_test, summarize, t_interval
from analysis.tidy import RunLog, build


def _log(method, replicate, curve, target="t", seed=0, state="done"):
    cond = {"sweep": "s", "source_model": "src", "target_model": target, "method": method, "rho": 0.25}
    cond |= {"seed": seed, "replicate": replicate}
    rows = [{"step": step, "eval/average": acc} for step, acc in curve]
    return RunLog(f"s/{target}-{method}-r{replicate}", cond, state, "mem", rows)


def test_the_t_interval_covers_the_true_mean_difference_95_percent_of_the_time():
    """Paired differences ~ N(0.01, 0.02^2), 8 pairs, 2,000 simulated studies: the 95% interval
    must cover 0.01 in 93-97% of them (a percentile bootstrap at 8 pairs covers ~90%)."""
    rng = random.Random(0)
    covered = 0
    trials = 2000
    for _ in range(trials):
        diffs = [rng.gauss(0.01, 0.02) for _ in range(8)]
        _, low, high = t_interval(diffs)
        covered += low <= 0.01 <= high
    assert 0.93 <= covered / trials <= 0.97, covered / trials


def test_the_sign_test_and_small_samples_are_reported_honestly():
    assert sign_test([0.1, 0.2, -0.1, 0.0]) == (2, 1, 1.0)
    pos, neg, p = sign_test([0.1] * 8)
    assert (pos, neg) == (8, 0) and p == pytest.approx(2 / 2**8)
    one = summarize([0.05])
    assert one.n == 1 and one.low is None and one.high is None  # no interval from one pair
    assert summarize([]).mean is None


def test_pairs_are_vanilla_and_saerl_of_one_replicate_with_final_auc_and_steps():
    logs = [
        _log("vanilla", 1, [(0, 0.30), (10, 0.40), (20, 0.50)]),
        _log("saerl", 1, [(0, 0.30), (10, 0.50), (20, 0.55)]),  # reaches 0.50 at 10 of 20
        _log("vanilla", 2, [(0, 0.30), (10, 0.35), (20, 0.40)]),
        _log("saerl", 2, [(0, 0.30), (10, 0.32), (20, 0.38)]),  # never reaches 0.40
        _log("saerl", 3, [(0, 0.3), (20, 0.6)]),  # no vanilla of replicate 3: no pair
        _log("vanilla", 4, [(0, 0.3), (20, 0.4)]),
        _log("saerl", 4, [(0, 0.3), (20, 0.6)], state="failed"),  # unfinished: no pair
    ]
    table = pairs(build(logs), "saerl").set_index("replicate")
    assert list(table.index) == [1, 2]
    assert table.loc[1, "final_diff"] == pytest.approx(0.05) and table.loc[2, "final_diff"] == pytest.approx(
        -0.02
    )
    assert table.loc[1, "auc_diff"] == pytest.approx(auc([(0, 0.3), (10, 0.5), (20, 0.55)]) - 0.4)
    assert table.loc[1, "steps_ratio"] == pytest.approx(0.5) and math.isnan(table.loc[2, "steps_ratio"])
    summary = paired_table(build(logs), "saerl").iloc[0]
    assert summary["pairs"] == 2 and summary["final diff (points)"] == "+1.5"
    assert summary["sign test (+/-, p)"] == "1/1, p=1.000"
    assert summary["steps to vanilla's final (median ratio)"] == "0.50 (1 of 2)"


def test_runs_without_a_declared_replicate_form_no_pairs_and_the_report_says_nothing(tmp_path):
    from analysis.report import write_report

    logs = [_log("vanilla", None, [(0, 0.3), (10, 0.4)], seed=s) for s in (0, 1)] + [
        _log("saerl", None, [(0, 0.3), (10, 0.5)], seed=s) for s in (0, 1)
    ]
    for i, lg in enumerate(logs):
        logs[i] = RunLog(f"{lg.run}-{i}", lg.condition, lg.state, lg.origin, lg.rows)
    assert pairs(build(logs), "saerl").empty
    paired = [_log("vanilla", r, [(0, 0.3), (10, 0.4 + r / 100)]) for r in (1, 2, 3)]
    paired += [_log("saerl", r, [(0, 0.3), (10, 0.45 + r / 100)]) for r in (1, 2, 3)]
    text = write_report(build(paired), tmp_path, n_boot=100).read_text()
    assert (
        "## Paired comparison" in text
        and "| t | 3 | +5.0 |" in (tmp_path / "tables" / "paired.md").read_text()
    )


def test_the_report_shows_the_clip_fraction_and_the_share_of_groups_without_signal(tmp_path):
    from analysis.report import write_report

    logs = []
    for method, clip in (("vanilla", 0.0), ("saerl", 0.02)):
        log = _log(method, 1, [(0, 0.3), (10, 0.4)])
        rows = [
            *log.rows,
            {"step": 5, "train/clip_ratio/region_mean": clip, "train/frac_reward_zero_std": 0.5},
        ]
        logs.append(RunLog(log.run, log.condition, log.state, log.origin, rows))
    write_report(build(logs), tmp_path, n_boot=50)
    table = (tmp_path / "tables" / "dynamics.md").read_text()
    assert "| t | saerl | 1 | 2.0% | 50.0% |" in table and "| t | vanilla | 1 | 0.0% | 50.0% |" in table


def test_the_report_gives_accuracy_on_novel_computations_apart_from_the_average(tmp_path):
    from analysis.report import write_report

    logs = []
    for method, acc in (("vanilla", 0.2), ("saerl", 0.3)):
        log = _log(method, 1, [(0, 0.3), (10, 0.4)])
        rows = [*log.rows, {"step": 10, "eval/eval_id/accuracy": 0.5, "eval/eval_id/accuracy_novel": acc}]
        logs.append(RunLog(log.run, log.condition, log.state, log.origin, rows))
    write_report(build(logs), tmp_path, n_boot=50)
    table = (tmp_path / "tables" / "novel.md").read_text()
    assert "| t | saerl | 1 | 30.0 |" in table and "| t | vanilla | 1 | 20.0 |" in table
    assert "accuracy_novel" not in (tmp_path / "tables" / "main.md").read_text()
