import json

import pytest

from analysis.convergence import best, mean_curve, steps_to_target
from analysis.sources.rundirs import load
from analysis.summary import format_table, summary_rows
from saerl.config import ConfigError
from saerl.launch.sweep import config_for, read_sweep


def test_sweep_expands_the_grid_in_order(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(
        "name: mini\nconfig: {rl: {steps: 7}}\noverrides: [curriculum.rho=0.5]\n"
        "grid:\n  rl.target_model: [qwen2-s, llama-s]\n  rl.seed: [0, 1]\n"
    )
    sweep = read_sweep(f, ["rl.eval_every=3"])
    cfgs = [config_for(sweep, p) for p in sweep.points]
    assert [(c.rl.target_model, c.rl.seed) for c in cfgs] == [
        ("qwen2-s", 0), ("qwen2-s", 1), ("llama-s", 0), ("llama-s", 1),
    ]  # fmt: skip
    assert {(c.name, c.rl.steps, c.curriculum.rho, c.rl.eval_every) for c in cfgs} == {("mini", 7, 0.5, 3)}


def test_bad_sweeps_fail_before_any_work(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("grid:\n  rl.sed: [0, 1]\n")
    with pytest.raises(ConfigError, match=r"unknown key rl\.sed \(did you mean rl\.seed\?\)"):
        read_sweep(f)
    f.write_text("grid:\n  rl.seed: 3\n")
    with pytest.raises(ConfigError, match=r"grid\.rl\.seed must be a non-empty list"):
        read_sweep(f)
    f.write_text("grids: {}\n")
    with pytest.raises(ConfigError, match=r"unknown sweep key\(s\) \['grids'\]"):
        read_sweep(f)


def test_every_shipped_sweep_parses():
    from pathlib import Path

    sweeps = sorted(Path(__file__).parent.parent.glob("sweeps/*.yaml"))
    assert {s.stem for s in sweeps} >= {"miniature", "demo", "ablations", "rho"}
    for s in sweeps:
        assert read_sweep(s).points


def test_steps_to_target_on_hand_computed_curves():
    curve = [(0, 0.40), (10, 0.45), (20, 0.52), (30, 0.50)]
    assert steps_to_target(curve, 0.50) == 20
    assert steps_to_target(curve, 0.40) == 0
    assert steps_to_target(curve, 0.60) is None
    assert mean_curve([[(0, 0.2), (10, 0.4)], [(0, 0.4), (10, 0.6), (20, 0.9)]]) == [
        (0, 0.30000000000000004),
        (10, 0.5),
    ]
    assert best(curve) == 0.52


def write_run(root, target, method, seed, evals, state="done"):
    d = root / f"{target}-{method}-s{seed}"
    d.mkdir(parents=True)
    (d / "condition.json").write_text(json.dumps({"target_model": target, "method": method, "seed": seed}))
    (d / "status.json").write_text(json.dumps({"state": state}))
    (d / "metrics.jsonl").write_text(
        "".join(json.dumps({"step": s, "eval/average": a}) + "\n" for s, a in evals)
    )


def test_summary_uses_the_vanilla_mean_curve_as_target(tmp_path):
    write_run(tmp_path, "q", "vanilla", 0, [(0, 0.4), (10, 0.5), (20, 0.6)])
    write_run(tmp_path, "q", "vanilla", 1, [(0, 0.4), (10, 0.6), (20, 0.5)])  # mean curve: .4 .55 .55
    write_run(tmp_path, "q", "saerl", 0, [(0, 0.4), (10, 0.56), (20, 0.7)])
    write_run(tmp_path, "q", "saerl", 1, [(0, 0.4), (10, 0.5)], state="failed")
    rows = {(r["method"], r["seed"]): r for r in summary_rows(load(tmp_path))}
    assert rows[("saerl", 0)]["target"] == pytest.approx(0.55)
    assert rows[("saerl", 0)]["steps_to_target"] == 10
    assert rows[("vanilla", 0)]["steps_to_target"] == 20
    assert rows[("vanilla", 1)]["steps_to_target"] == 10
    assert rows[("saerl", 1)]["state"] == "failed" and rows[("saerl", 1)]["steps_to_target"] is None
    table = format_table(list(rows.values()))
    assert "failed" in table and "not reached" in table


def test_runs_that_differ_in_a_swept_knob_are_not_averaged_as_seeds(tmp_path):
    for lr, acc in (("1e-05", 0.4), ("2e-05", 0.6)):
        d = tmp_path / f"q-vanilla-lr{lr}-s0"
        d.mkdir()
        cond = {"target_model": "q", "method": "vanilla", "seed": 0, "variant": f"lr={lr}"}
        (d / "condition.json").write_text(json.dumps(cond))
        (d / "status.json").write_text(json.dumps({"state": "done"}))
        (d / "metrics.jsonl").write_text(json.dumps({"step": 0, "eval/average": acc}) + "\n")
    runs = load(tmp_path).runs
    assert sorted(runs["method"]) == ["vanilla [lr=1e-05]", "vanilla [lr=2e-05]"]
