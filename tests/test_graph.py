"""The stage graph: planned keys are the built keys, shared nodes once, runs that cannot collide."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from conftest import RL_OVERRIDES, TINY_OVERRIDES

from saerl.config import flat_defaults, load_experiment, to_dict
from saerl.launch.graph import Plan, StageGraph, topological
from saerl.launch.local import LocalExecutor
from saerl.launch.sweep import check_distinct, read_sweep, sweep_graphs
from saerl.rl.run import RunConflict, check_recorded, condition
from saerl.store import ArtifactStore

ROOT = Path(__file__).parent.parent
SWEEPS = sorted((ROOT / "sweeps").glob("*.yaml"))


def test_planned_keys_are_the_keys_building_produces(tiny, monkeypatch):
    overrides, store = tiny
    cfg = load_experiment(overrides=overrides)
    graph = StageGraph(cfg)
    planned = {n.id: n for n in topological([graph.signals])}  # before anything is built here
    calls: Counter[tuple[str, str]] = Counter()
    real = ArtifactStore.get_or_build

    def counting(self, stage, version, config, build, inputs=()):
        art = real(self, stage, version, config, build, inputs)
        calls[(stage, art.key)] += 1
        return art

    monkeypatch.setattr(ArtifactStore, "get_or_build", counting)
    LocalExecutor(store).materialize(graph.signals)
    for node in planned.values():
        if node.external:
            continue
        assert calls[node.id] == 1, f"{node.label} requested {calls[node.id]} times"
        manifest = json.loads((store.path(node.stage, node.key) / "manifest.json").read_text())
        assert manifest["key"] == node.key and manifest["inputs"] == node.input_keys
    assert set(calls) == {n.id for n in planned.values() if not n.external}


def test_plan_of_the_miniature_shares_the_sae_and_vanilla_skips_it():
    (sweep_file,) = [s for s in SWEEPS if s.stem == "miniature"]
    graphs = sweep_graphs(read_sweep(sweep_file))
    plan = Plan.of([g.run for g in graphs])
    stages = Counter(n.stage for n in plan.nodes)
    assert stages["sae"] == 1 and stages["features"] == 1 and stages["signals"] == 1
    assert stages["curriculum"] == 2 and stages["run"] == 12
    assert plan.users[graphs[0].sae.id] == 6  # the six SAERL runs; no vanilla run needs the SAE
    for g in graphs:
        needs_sae = any(n.stage == "sae" for n in topological([g.run]))
        assert needs_sae == (g.cfg.curriculum.mode != "vanilla")


@pytest.mark.parametrize("sweep_file", SWEEPS, ids=[s.stem for s in SWEEPS])
def test_every_point_of_every_shipped_sweep_gets_its_own_folder_and_condition(sweep_file):
    graphs = sweep_graphs(read_sweep(sweep_file))
    check_distinct(graphs)  # raises on a shared folder
    folders = [g.run.params["name"] for g in graphs]
    assert len(set(folders)) == len(graphs)
    conds = [json.dumps(condition(to_dict(g.cfg), g.run.params["variant"]), sort_keys=True) for g in graphs]
    assert len(set(conds)) == len(graphs)


def test_rho_sweep_names_its_runs_by_rho_and_records_the_applied_rho():
    (sweep_file,) = [s for s in SWEEPS if s.stem == "rho"]
    graphs = sweep_graphs(read_sweep(sweep_file))
    names = [g.run.params["name"] for g in graphs]
    assert any("-rho0.125-" in n for n in names) and any("-rho0.5-" in n for n in names)
    no_mix = load_experiment(overrides=["curriculum.mode=no_mixing", "curriculum.rho=0.25"])
    assert condition(to_dict(no_mix))["rho"] == 0.0
    assert condition(to_dict(load_experiment(overrides=["curriculum.rho=0.375"])))["rho"] == 0.375


def test_a_run_folder_of_another_config_is_refused(tmp_path):
    cfg = load_experiment(overrides=["rl.steps=7"])
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(to_dict(load_experiment(overrides=["rl.steps=9"]))))
    with pytest.raises(RunConflict, match=r"rl\.steps: 9 there vs 7 here"):
        check_recorded(tmp_path, to_dict(cfg), flat_defaults())
    # where outputs go is not identity: another store or W&B mode is the same run
    same = load_experiment(overrides=["rl.steps=9", "store_dir=/elsewhere", "rl.wandb=disabled"])
    check_recorded(tmp_path, to_dict(same), flat_defaults())


def test_a_new_config_field_renames_no_run_but_a_changed_default_is_refused(tmp_path):
    from saerl.rl.run import identity_hash

    cfg = to_dict(load_experiment(overrides=["rl.steps=9"]))
    older = {**cfg, "rl": {k: v for k, v in cfg["rl"].items() if k != "eval_batch_size"}}  # before the field
    assert identity_hash(older, flat_defaults()) == identity_hash(cfg, flat_defaults())
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(older))
    check_recorded(tmp_path, cfg, flat_defaults())  # a folder from before the field is the same run
    # a folder made when rl.eval_batch_size defaulted to 32: not silently reused under the new default
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({**cfg, "rl": {**cfg["rl"], "eval_batch_size": 32}}))
    with pytest.raises(RunConflict, match=r"rl\.eval_batch_size: 32 there vs 64 \(the default\) here"):
        check_recorded(tmp_path, cfg, flat_defaults())


def test_run_folder_hash_changes_with_any_identity_key_only():
    base = StageGraph(load_experiment()).run.params["name"]
    assert StageGraph(load_experiment(overrides=["rl.lr=3e-5"])).run.params["name"] != base
    assert StageGraph(load_experiment(overrides=["runs_dir=/x", "device=cpu"])).run.params["name"] == base
    assert base.startswith("qwen2-s-saerl-s0-")


def test_saerl_plan_prints_the_graph_without_importing_torch(tmp_path):
    code = (
        "import sys; from saerl.cli import main; "
        f"rc = main(['plan', 'sweeps/miniature.yaml', 'store_dir={tmp_path}']); "
        "heavy = [m for m in ('torch', 'transformers', 'sae_lens', 'trl') if m in sys.modules]; "
        "print('HEAVY', heavy); sys.exit(rc)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout
    assert "sweep miniature" in out.stdout and "12 run(s)" in out.stdout
    sae_rows = [line for line in out.stdout.splitlines() if line.split()[1:2] == ["sae"]]
    assert len(sae_rows) == 1 and "missing" in sae_rows[0]


def test_plan_reports_built_nodes_and_done_runs(tiny, tmp_path, capsys):
    from saerl.cli import main
    from saerl.launch.local import train_run

    overrides, store = tiny
    extra = [*overrides, *RL_OVERRIDES, f"store_dir={store.root}", f"runs_dir={tmp_path}", "name=p"]
    assert main(["plan", *extra]) == 0
    before = capsys.readouterr().out
    train_run(load_experiment(overrides=extra), store)
    assert main(["plan", *extra]) == 0
    after = capsys.readouterr().out
    assert " new " in before and " done " in after
    assert "missing" not in after and "(no SAE)" not in after  # the saerl run needs the SAE signals


def test_same_name_sweep_points_are_rejected(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("name: dup\ngrid:\n  rl.seed: [0, 0]\n")
    with pytest.raises(ValueError, match="resolve to the same run"):
        check_distinct(sweep_graphs(read_sweep(f)))


def test_tiny_overrides_plan_cleanly():
    graph = StageGraph(load_experiment(overrides=TINY_OVERRIDES))
    assert [n.stage for n in topological([graph.features])] == [
        "data", "tokenizer", "model", "activations", "sae", "features",
    ]  # fmt: skip


def test_a_replicate_redraws_every_seeded_node_and_a_job_replans_the_same_keys(tmp_path):
    """replicate r offsets the seeds of the SAE, the labels, k-means, the probes, the curriculum and
    the RL run: every one of those nodes gets a new key, the warm-start models and data do not; a
    job, which re-plans from the config the run records, finds the same keys (no second offset)."""
    from saerl.config import SaerlConfig, load_experiment, to_dict
    from saerl.configlib import load_config
    from saerl.launch.graph import StageGraph

    base = [f"store_dir={tmp_path}", "curriculum.mode=saerl"]
    g0, g1 = (StageGraph(load_experiment(overrides=[*base, f"replicate={r}"])) for r in (0, 1))
    for stage in ("sae", "activations", "signals", "curriculum"):
        assert getattr(g0, stage).key != getattr(g1, stage).key, stage
    assert g0.labels("train", 600).key != g1.labels("train", 600).key
    assert g0.run.params["name"] != g1.run.params["name"] and "-r1-" in g1.run.params["name"]
    assert g1.run.params["rl"].seed == 1 and g1.run.params["config"]["rl"]["seed"] == 0
    for stage in ("data", "tokenizer", "target"):
        assert getattr(g0, stage).key == getattr(g1, stage).key, stage
    again = StageGraph(load_config(SaerlConfig, base=to_dict(g1.cfg)))
    assert again.run.key == g1.run.key and again.sae.key == g1.sae.key
    vanilla = [
        StageGraph(load_experiment(overrides=[f"store_dir={tmp_path}", f"replicate={r}"])) for r in (0, 1)
    ]
    assert vanilla[0].curriculum.key != vanilla[1].curriculum.key  # the vanilla order is redrawn too


def test_saerl_plan_shows_one_curriculum_per_replicate(tmp_path):
    import subprocess
    import sys

    import yaml

    sweep = tmp_path / "rep.yaml"
    grid = {"replicate": [1, 2, 3], "curriculum.mode": ["vanilla", "saerl"]}
    sweep.write_text(
        yaml.safe_dump({"name": "rep", "overrides": [f"store_dir={tmp_path / 'st'}"], "grid": grid})
    )
    out = subprocess.run([sys.executable, "-m", "saerl", "plan", str(sweep)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    runs = [line.split() for line in out.stdout.split("runs and what they need")[1].splitlines()[1:7]]
    curricula = {(row[0].split("-")[1], row[2]) for row in runs}  # (method, curriculum key)
    assert len(curricula) == 6  # every replicate draws its own vanilla order and its own SAERL curriculum
