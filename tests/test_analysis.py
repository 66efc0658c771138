"""Analysis: three run sources into one tidy table, steps-to-target with a bootstrap, the report.

The runs are real: the tiny miniature trains a vanilla and a SAERL run with TRL and real wandb
(offline), and a third run is killed at step 3. No W&B server can run here, so the API source reads
a fake with the public API's shape, filled with what `wandb sync` would upload: the offline files.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import RL_OVERRIDES, killed_at_step

from analysis.convergence import steps_ratio
from analysis.sources import rundirs, wandb_api, wandb_offline
from analysis.tidy import CONDITION, RunLog, build


@pytest.fixture(scope="module")
def runs_root(tiny, tmp_path_factory):
    """runs/an/: vanilla, saerl, coverage (done), saerl seed 1 (killed at step 3: failed)."""
    from saerl.config import load_experiment
    from saerl.launch.local import train_run
    from saerl.rl import trl_backend

    overrides, store = tiny
    root = tmp_path_factory.mktemp("analysis") / "runs"

    def cfg(*extra):
        return load_experiment(overrides=[*overrides, *RL_OVERRIDES, f"runs_dir={root}", "name=an", *extra])

    train_run(cfg("curriculum.mode=vanilla"), store)
    train_run(cfg("curriculum.mode=saerl"), store)
    train_run(cfg("curriculum.mode=coverage"), store)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(trl_backend, "make_reward", killed_at_step(trl_backend.make_reward, 3))
        with pytest.raises(KeyboardInterrupt):
            train_run(cfg("curriculum.mode=saerl", "rl.seed=1"), store)
    return root


class FakeRun:
    """The attributes and methods of wandb.apis.public.Run that the API source uses."""

    def __init__(self, run_id, name, group, config, state, rows):
        self.id, self.name, self.group, self.config, self.state = run_id, name, group, config, state
        self._rows = rows
        self.lastHistoryStep = max((r["_step"] for r in rows), default=-1)
        self.fetches = 0

    def scan_history(self, keys=None, page_size=1000):
        self.fetches += 1
        yield from (dict(r) for r in self._rows)


class FakeApi:
    def __init__(self, runs):
        self._runs = runs
        self.calls = []

    def runs(self, path, filters=None, per_page=50, order="+created_at"):
        self.calls.append((path, filters))
        group = (filters or {}).get("group")
        return [r for r in self._runs if group is None or r.group == group]


def synced(root):
    """What the W&B server holds after `wandb sync` of every offline run under ``root``."""
    runs = []
    for i, f in enumerate(sorted(root.rglob("run-*.wandb"))):
        off = wandb_offline.read_offline_run(f)
        state = {"done": "finished", "failed": "failed", "running": "running"}[off.state]
        runs.append(FakeRun(f"id{i}", off.name, off.group, off.config, state, off.history))
    return runs


def test_three_sources_give_identical_tidy_tables(runs_root, tmp_path):
    from_dirs = rundirs.load(runs_root)
    from_offline = wandb_offline.load(runs_root)
    api = FakeApi(synced(runs_root))
    from_api = wandb_api.load("team/saerl", {"group": "an"}, tmp_path / "cache", api=api)
    assert api.calls == [("team/saerl", {"group": "an"})]

    pd.testing.assert_frame_equal(from_dirs.table, from_offline.table)
    pd.testing.assert_frame_equal(from_dirs.table, from_api.table)
    cols = ["run", *CONDITION, "state"]
    pd.testing.assert_frame_equal(from_dirs.runs[cols], from_offline.runs[cols])
    pd.testing.assert_frame_equal(from_dirs.runs[cols], from_api.runs[cols])

    runs = from_dirs.runs.set_index("run")
    # run folders: target-mode-s<seed>-<identity hash>
    name = {r.rsplit("-", 1)[0]: r for r in runs.index}
    assert {r: runs["state"][name[r]] for r in name} == {
        "an/qwen2-xs-coverage-s0": "done",
        "an/qwen2-xs-saerl-s0": "done",
        "an/qwen2-xs-saerl-s1": "failed",
        "an/qwen2-xs-vanilla-s0": "done",
    }
    assert set(runs["family"]) == {"qwen2"} and (runs["scale"] > 1000).all()
    t = from_dirs.table
    evals = t[(t["run"] == name["an/qwen2-xs-vanilla-s0"]) & (t["metric"] == "eval/average")]
    assert evals["step"].tolist() == [0, 2, 4]
    assert {"train/reward", "train/loss", "eval/eval_id/accuracy", "wall_time"} <= set(t["metric"])
    crashed = t[t["run"] == name["an/qwen2-xs-saerl-s1"]]
    assert crashed["step"].max() == 3  # killed while scoring step 4's completions
    assert crashed.loc[crashed["metric"] == "eval/average", "step"].tolist() == [0, 2]


def test_api_cache_is_reused_for_finished_runs_and_refreshed_for_running_ones(runs_root, tmp_path):
    runs = synced(runs_root)
    first = wandb_api.load("team/saerl", None, tmp_path, api=FakeApi(runs))
    assert all(r.fetches == 1 for r in runs)
    runs[0].state = "running"  # still going: must be fetched again
    second = wandb_api.load("team/saerl", None, tmp_path, api=FakeApi(runs))
    assert [r.fetches for r in runs] == [2, 1, 1, 1]
    pd.testing.assert_frame_equal(first.table, second.table)
    assert len(list(tmp_path.rglob("*.parquet"))) == 4


def test_openrlhf_keys_map_to_saerl_names():
    """Keys as OpenRLHF 0.11.2 logs them (tests/test_openrlhf.py derives them from its source)."""
    rows = [
        {
            "eval/global_step": 0,
            "eval/eval_gsm8k_pass1": 0.5,
            "eval/eval_math_500_pass1": 0.3,
            "eval/eval_num_samples": 20.0,
            "_step": 0,
        },
        {
            "train/global_step": 1,
            "train/policy_loss": 0.2,
            "train/rollout/reward_mean": 0.4,
            "train/kl": 0.01,
            "_step": 1,
        },
        {
            "train/global_step": 2,
            "train/rollout/response_length_mean": 300.0,
            "train/generated_samples": "table",
            "_step": 2,
        },
    ]
    cond = {"sweep": "big", "method": "saerl", "target_model": "Qwen/Qwen2.5-7B", "seed": 0}
    api = FakeApi([FakeRun("x", "qwen7b-saerl-s0", "big", cond, "finished", rows)])
    rs = wandb_api.load("team/saerl", None, None, api=api)
    got = {(s, m): v for s, m, v in rs.table[["step", "metric", "value"]].itertuples(index=False)}
    assert got == pytest.approx(
        {
            (0, "eval/gsm8k/accuracy"): 0.5,
            (0, "eval/math_500/accuracy"): 0.3,
            (0, "eval/eval_num_samples"): 20.0,
            (0, "eval/average"): 0.4,  # mean over the eval sets
            (1, "train/loss"): 0.2,
            (1, "train/reward"): 0.4,
            (1, "train/kl"): 0.01,
            (2, "train/completions/mean_length"): 300.0,
        }
    )


def test_steps_to_target_ratio_and_bootstrap_on_hand_computed_curves():
    vanilla = [[(0, 0.4), (10, 0.5), (20, 0.6)]]  # best 0.6, reached at step 20
    a = [(0, 0.4), (10, 0.6), (20, 0.6)]  # reaches 0.6 at 10
    b = [(0, 0.4), (10, 0.5), (20, 0.6)]  # at 20
    r = steps_ratio([a, b], vanilla, n_boot=400, seed=1)
    # mean(a, b) = .4, .55, .6 -> step 20 -> ratio 1.0. Resamples: {a,a} -> 0.5 (p=1/4),
    # {a,b} -> 1.0 (1/2), {b,b} -> 1.0 (1/4): the 95% interval spans [0.5, 1.0].
    assert (r.target, r.method_steps, r.vanilla_steps, r.ratio) == (0.6, 20, 20, 1.0)
    assert (r.low, r.high, r.n_boot) == (0.5, 1.0, 400)
    never = steps_ratio([[(0, 0.1), (10, 0.2), (20, 0.3)]], vanilla)
    assert never.ratio == float("inf") and never.low == float("inf")
    at_zero = steps_ratio([a], [[(0, 0.7), (10, 0.6)]])  # vanilla's best is its start: no ratio
    assert at_zero.ratio is None and at_zero.low is None and at_zero.n_boot == 0
    assert steps_ratio([a], vanilla, target=0.55).ratio == 10 / 20


def test_report_lists_the_crashed_run_and_writes_nonempty_figures(runs_root, tmp_path):
    import matplotlib.image

    from analysis.report import write_report

    report = write_report(rundirs.load(runs_root), tmp_path / "rep", title="t", store_dir=None, n_boot=50)
    text = report.read_text()
    incomplete = text.split("## Incomplete runs")[1].split("##")[0]
    assert re.search(r"an/qwen2-xs-saerl-s1-[0-9a-f]{6} \| failed \| 3 \|", incomplete)
    main = (tmp_path / "rep" / "tables" / "main.md").read_text()
    assert "| qwen2-xs | saerl | 1 |" in main  # the crashed seed is not averaged in
    assert "| qwen2-xs | coverage | 1 |" in main  # the second method beside SAERL
    assert "pool seen |" in main.splitlines()[2] and main.count("| 13.3 |") == 3  # 4 steps x 8 of 240
    assert "before RL (step 0)" in main
    assert r"\begin{tabular}" in (tmp_path / "rep" / "tables" / "main.tex").read_text()
    for name in ("convergence", "transfer"):
        png, pdf = tmp_path / "rep" / "figures" / f"{name}.png", tmp_path / "rep" / "figures" / f"{name}.pdf"
        assert f"figures/{name}.png" in text and pdf.stat().st_size > 1000
        pixels = matplotlib.image.imread(png)
        assert pixels.shape[0] > 100 and float(np.std(pixels)) > 0.01  # not a blank canvas
    # the interpretable signals of the SAERL runs' curriculum (its interpret.json in the store)
    assert "## Interpretable signals" in text
    table = (tmp_path / "rep" / "tables" / "clusters.md").read_text()
    clusters = [row for row in table.splitlines() if re.match(r"\| \d+ \|", row)]
    assert len(clusters) >= 2 and all(re.search(r"\| #\d+ \(\+", row) for row in clusters), table
    dropped = (tmp_path / "rep" / "tables" / "quality_filter.md").read_text()
    assert "| none |" in dropped and "| off_topic |" in dropped
    # which clusters coverage selection took: 32 prompts (4 steps x 8) over the clusters of the pool
    assert "## Coverage selection" in text
    covered = (tmp_path / "rep" / "tables" / "coverage.md").read_text()
    counts = [int(row.split("|")[3]) for row in covered.splitlines() if re.match(r"\| \d+ \|", row)]
    assert len(counts) >= 2 and sum(counts) == 32, covered


def test_gain_over_vanilla_with_a_bootstrap_interval_over_seeds():
    from analysis.convergence import gain_ci

    g = gain_ci([0.50, 0.54], [0.40, 0.42], n_boot=4000, seed=0)
    # point: 0.52 - 0.41; resampled means are {0.50, 0.52, 0.54} and {0.40, 0.41, 0.42}, so every
    # draw lies in [0.08, 0.14] and both tails are reached with 4000 draws (p = 1/16 each corner).
    assert g.gain == pytest.approx(0.11) and (g.n_method, g.n_vanilla) == (2, 2)
    assert g.low == pytest.approx(0.08) and g.high == pytest.approx(0.14)
    one = gain_ci([0.5], [0.4, 0.42])
    assert one.gain == pytest.approx(0.09) and one.low is None and one.high is None  # n/a, not [x, x]
    with pytest.raises(ValueError, match="at least one"):
        gain_ci([], [0.4])


def _ablation_logs():
    def log(method, rho, seed, curve):
        cond = {
            "sweep": "ab",
            "source_model": "s",
            "target_model": "t",
            "method": method,
            "rho": rho,
            "seed": seed,
        }
        rows = [{"step": step, "eval/average": acc} for step, acc in curve]
        return RunLog(f"ab/{method}-{rho}-{seed}", cond, "done", "mem", rows)

    return [
        log("vanilla", 0.25, 0, [(0, 0.3), (10, 0.40), (20, 0.40)]),
        log("vanilla", 0.25, 1, [(0, 0.3), (10, 0.38), (20, 0.42)]),  # mean best 0.41 at 20
        log("saerl", 0.25, 0, [(0, 0.3), (10, 0.45), (20, 0.50)]),
        log("saerl", 0.25, 1, [(0, 0.3), (10, 0.43), (20, 0.54)]),  # reaches 0.41 at 10
        log("saerl", 0.5, 0, [(0, 0.3), (10, 0.35), (20, 0.45)]),
        log("saerl", 0.5, 1, [(0, 0.3), (10, 0.37), (20, 0.41)]),  # reaches 0.41 at 20
        log("saerl", 0.0, 0, [(0, 0.3), (10, 0.31), (20, 0.33)]),  # never
        log("no_mixing", 0.25, 0, [(0, 0.3), (10, 0.40), (20, 0.42)]),
    ]


def _ablation_runs():
    return build(_ablation_logs())


def test_ablations_give_each_mode_its_gain_with_a_ci_and_each_rho_its_steps_to_target():
    from analysis.comparisons import ablations, split_rho

    by_method, by_rho = ablations(_ablation_runs(), n_boot=2000)
    m = by_method.set_index("method")
    assert m.loc["no_mixing", "gain (points)"] == "+1.0" and m.loc["no_mixing", "95% CI"] == "n/a (1 seed)"
    assert m.loc["vanilla", "gain (points)"] == "-" and m.loc["vanilla", "steps to target"] == 20
    assert "saerl" not in m.index  # at several rho values: those rows are the rho table's
    r = by_rho.set_index("rho")
    assert list(r.index) == [0.0, 0.25, 0.5]
    assert r.loc[0.25, "gain (points)"] == "+11.0" and r.loc[0.25, "95% CI"] == "[+8.0, +14.0]"
    assert r.loc[0.5, "gain (points)"] == "+2.0" and r.loc[0.5, "seeds"] == 2
    assert [r.loc[x, "steps to target"] for x in (0.0, 0.25, 0.5)] == ["not reached", 10, 20]
    assert (r["target accuracy"] == "41.0").all()
    # the main table and convergence see the rho values as separate methods, never as seeds of one
    methods = set(split_rho(_ablation_runs()).runs["method"])
    assert methods == {"vanilla", "no_mixing", "saerl [rho=0]", "saerl [rho=0.25]", "saerl [rho=0.5]"}


def test_ablation_and_rho_sections_appear_when_runs_have_them(tmp_path):
    from analysis.report import write_report

    text = write_report(_ablation_runs(), tmp_path, n_boot=200).read_text()
    assert "figures/ablations.png" in text and "figures/rho.png" in text
    assert (tmp_path / "figures" / "rho.pdf").stat().st_size > 1000
    table = (tmp_path / "tables" / "ablations.md").read_text()
    assert "| t | no_mixing | 1 | 42.0 | +1.0 | n/a (1 seed) | 20 |" in table
    assert "| t | 0.25 | 2 | 52.0 ± 2.8 | +11.0 |" in (tmp_path / "tables" / "rho.md").read_text()
    main = (tmp_path / "tables" / "main.md").read_text()
    assert "| t | saerl [rho=0.5] | 2 |" in main and "| t | saerl | " not in main


def test_a_rho_sweep_without_vanilla_still_gets_its_rho_section(tmp_path):
    from analysis.report import write_report

    saerl_only = build([log for log in _ablation_logs() if log.condition["method"] == "saerl"])
    text = write_report(saerl_only, tmp_path, n_boot=200).read_text()
    assert "figures/rho.png" in text and "No vanilla runs for t" in text
    assert "| t | 0.25 | 2 | 52.0 ± 2.8 | - | - | - |" in (tmp_path / "tables" / "rho.md").read_text()


def test_the_sft_baseline_gets_a_gain_but_no_steps_to_target(tmp_path):
    from analysis.comparisons import ablations, convergence_table
    from analysis.report import write_report

    cond = {"sweep": "ab", "source_model": "s", "target_model": "t", "method": "sft", "rho": 0.25, "seed": 0}
    # SFT runs for wall time: evaluated at step 0 and at the RL runs' last step only
    rows = [{"step": 0, "eval/average": 0.3}, {"step": 20, "eval/average": 0.5}]
    sft = RunLog("ab/sft-0", cond, "done", "mem", rows)
    rs = build([*_ablation_logs(), sft])
    conv, _ = convergence_table(rs, n_boot=200)
    assert "sft" not in set(conv["method"])  # a wall-time budget has no steps to count
    m = ablations(rs, n_boot=200)[0].set_index("method")
    assert m.loc["sft", "gain (points)"] == "+9.0" and m.loc["sft", "steps to target"] == "-"
    text = write_report(rs, tmp_path, n_boot=200).read_text()
    assert "has no curve or steps-to-target" in text
    assert "| t | sft | 1 | 50.0 |" in (tmp_path / "tables" / "main.md").read_text()


def test_bad_metrics_lines_name_the_file_and_line(tmp_path):
    run = tmp_path / "runs" / "s" / "r"
    run.mkdir(parents=True)
    (run / "condition.json").write_text(json.dumps({"sweep": "s", "method": "vanilla"}))
    (run / "metrics.jsonl").write_text('{"step": 0, "eval/average": 0.5}\n{"step": 1, "eval/av')
    rs = rundirs.load(tmp_path / "runs")  # a torn last line (killed mid-write) is skipped
    assert rs.table["step"].tolist() == [0] and rs.runs["state"].tolist() == ["unknown"]
    (run / "metrics.jsonl").write_text('{"step": 0}\nnot json\n{"step": 2}\n')
    with pytest.raises(ValueError, match=r"metrics\.jsonl:2: not valid JSON"):
        rundirs.load(tmp_path / "runs")
    with pytest.raises(FileNotFoundError, match="no run folders"):
        rundirs.load(tmp_path / "empty")


def test_saerl_report_command(runs_root, tmp_path, capsys):
    from saerl.cli import main

    out = tmp_path / "rep"
    assert main(["report", str(runs_root), "--out", str(out), "--store", str(tmp_path / "none")]) == 0
    assert (out / "report.md").exists() and "4 runs" in capsys.readouterr().out
    assert main(["report", str(runs_root), "--source", "wandb-offline", "--out", str(tmp_path / "r2")]) == 0
    assert main(["report", str(tmp_path / "missing"), "--source", "rundirs"]) == 2
    assert "no run folders" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:  # the report's own options, --help included
        main(["report", "--help"])
    assert exit_info.value.code == 0 and "--target-acc" in capsys.readouterr().out


def test_api_errors_name_the_path_and_the_way_out(tmp_path):
    class Broken:
        def runs(self, path, filters=None):
            raise PermissionError("401 unauthorized")

    with pytest.raises(LookupError, match=r"wandb:team/saerl: cannot list runs \(PermissionError: 401"):
        wandb_api.load("team/saerl", None, tmp_path, api=Broken())
    with pytest.raises(LookupError, match=r"no runs match \{'group': 'x'\}"):
        wandb_api.load("team/saerl", {"group": "x"}, tmp_path, api=FakeApi([]))


def test_cost_table_comes_from_the_manifests_of_the_store(runs_root, tiny):
    from analysis.comparisons import cost

    _, store = tiny
    table = cost(store.root, rundirs.load(runs_root)).set_index("stage")
    stages = {"warm-start SFT", "SAE training", "scoring (features)", "rollout labelling", "RL (all runs)"}
    assert stages <= set(table.index)
    manifests = [json.loads(p.read_text()) for p in store.root.glob("sae/*/manifest.json")]
    assert table.loc["SAE training", "artifacts/runs"] == len(manifests)
    expected = sum(m["wall_seconds"] for m in manifests) / 3600
    assert float(table.loc["SAE training", "wall hours"]) == pytest.approx(expected, abs=5e-4)
    assert table.loc["RL (all runs)", "artifacts/runs"] == 4  # the crashed run's time counts too
    assert table.loc["RL (all runs)", "accelerator hours"] == "-"  # not logged by the runs


def test_make_paper_rebuilds_one_report_per_sweep_from_logged_runs(runs_root, tmp_path):
    """`saerl paper` over the real runs of one sweep and run folders of a second (rho) sweep: one
    report each (the rho runs are not pooled into the first sweep's 'saerl'), an index, no training."""
    rho = tmp_path / "rho-runs"
    # the rho sweep has no vanilla: the report borrows the ablation sweep's (same models, same last
    # eval step), not the one that ran fewer steps
    points = [("rho", "saerl", r, acc, 10) for r, acc in ((0.0, 0.40), (0.25, 0.5), (0.5, 0.45))]
    points += [("ab", "vanilla", 0.25, 0.42, 10), ("short", "vanilla", 0.25, 0.1, 5)]
    for sweep, method, r, acc, last in points:
        run = rho / sweep / f"t-{method}-rho{r}-s0-{sweep}"
        run.mkdir(parents=True)
        cond = {
            "sweep": sweep,
            "source_model": "s",
            "target_model": "t",
            "method": method,
            "rho": r,
            "seed": 0,
        }
        (run / "condition.json").write_text(json.dumps(cond))
        (run / "status.json").write_text(json.dumps({"state": "done"}))
        rows = [{"step": 0, "eval/average": 0.3}, {"step": last, "eval/average": acc}]
        (run / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in rows))
    out = tmp_path / "paper"
    saerl = str(Path(__file__).parent.parent / ".venv/bin/saerl")
    done = subprocess.run(
        [saerl, "paper", str(runs_root), str(rho), str(tmp_path / "missing"), "--out", str(out),
         "--store", str(tmp_path / "no-store"), "--signals", str(tmp_path / "no-signals")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    index = (out / "index.md").read_text()
    assert "| an | 4 | 3 | - | [an/report.md](an/report.md) |" in index
    assert "| rho | 4 | 4 | vanilla for t (1 runs) from sweep ab | [rho/report.md](rho/report.md) |" in index
    rho_table = (out / "rho" / "tables" / "rho.md").read_text()
    assert "| t | 0.25 | 1 | 50.0 | +8.0 | n/a (1 seed) | 10 |" in rho_table
    assert "missing" in index.split("Not found")[1]
    assert "figures/rho.png" in (out / "rho" / "report.md").read_text()
    an_main = (out / "an" / "tables" / "main.md").read_text()
    assert "| t |" not in an_main  # the rho sweep's target is not in the first sweep's table
    assert "## Interpretable signals" in (out / "an" / "report.md").read_text()
