"""The cluster launcher without a cluster: profiles, rendered sbatch scripts (golden), the dry run,
the submission record, the run lock, and the same graph through submitit's debug executor."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from conftest import RL_OVERRIDES, TINY_OVERRIDES

from saerl.configlib import ConfigError
from saerl.launch.graph import StageGraph
from saerl.launch.profiles import load_profile
from saerl.launch.slurm import render_sbatch, sbatch_parameters
from saerl.launch.submissions import SubmissionRecord
from saerl.rl.run import RunConflict, run_lock

ROOT = Path(__file__).parent.parent
GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("name", ["local-slurm", "local", "debug", "h100"])
def test_shipped_profiles_load(name):
    profile = load_profile(name)
    assert profile.request("gpu").time_min >= 1


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("gpu.gpus_per_node=9", r"gpu\.gpus_per_node=9 exceeds the nodes' gpus_per_node=8"),
        ("multi_gpu.nodes=17", r"multi_gpu\.nodes=17 exceeds max_nodes=16"),
        ("cpu.time_min=3000", r"cpu\.time_min=3000 exceeds the partition's max_time_min=2880"),
        ("gpu.mem_gb=4000", r"gpu\.mem_gb=4000\.0 exceeds mem_gb_per_node=1800"),
        ("gpu.cpu_per_task=3", r"unknown key gpu\.cpu_per_task \(did you mean gpu\.cpus_per_task\?\)"),
        ("cpu.nodes=0", r"nodes: must be >= 1"),
    ],
)
def test_impossible_requests_are_rejected_before_submission(override, message):
    with pytest.raises(ConfigError, match=message):
        load_profile("h100", [override])


def test_unknown_profile_lists_the_shipped_ones():
    with pytest.raises(ConfigError, match=r"no such file; profiles in slurm/: \[.*'h100'.*'local-slurm'"):
        load_profile("nonesuch")


def _sae_and_run_nodes():
    from saerl.config import load_experiment

    graph = StageGraph(load_experiment(overrides=["name=golden"]))
    return graph.sae, graph.run


@pytest.mark.parametrize("profile_name", ["local-slurm", "h100"])
def test_rendered_sbatch_scripts_match_the_golden_files(profile_name):
    """The scripts submitit will write for a stage job and for an array of three runs."""
    profile = load_profile(profile_name)
    sae, run = _sae_and_run_nodes()
    scripts = {
        "stage": render_sbatch(sbatch_parameters(profile, sae, ["101", "102"]), Path("/LOGS")),
        "runs": render_sbatch(sbatch_parameters(profile, run, ["103"], "saerl-run-x"), Path("/LOGS"), 3),
    }
    for what, text in scripts.items():
        golden = GOLDEN / f"sbatch_{profile_name}_{what}.sh"
        if os.environ.get("SAERL_UPDATE_GOLDEN"):
            golden.write_text(text)
        assert text == golden.read_text(), f"{golden} differs (SAERL_UPDATE_GOLDEN=1 rewrites it)"
    assert "#SBATCH --dependency=afterok:101:102" in scripts["stage"]
    assert "#SBATCH --kill-on-invalid-dep=yes" in scripts["stage"]
    assert "#SBATCH --array=0-2%3" in scripts["runs"]


def test_dry_run_writes_the_scripts_and_submits_nothing(tmp_path):
    sweep = tmp_path / "s.yaml"
    grid = {
        "rl.target_model": ["qwen2-s", "llama-s"],
        "curriculum.mode": ["vanilla", "saerl"],
        "rl.seed": [0, 1],
    }
    paths = [f"store_dir={tmp_path / 'st'}", f"runs_dir={tmp_path / 'r'}"]
    sweep.write_text(yaml.safe_dump({"name": "dry", "overrides": paths, "grid": grid}))
    env = {**os.environ, "PATH": "/usr/bin:/bin"}  # no srun, sbatch or squeue needed
    out = subprocess.run(
        [sys.executable, "-m", "saerl", "sweep", str(sweep), "CLUSTER=h100", "DRY_RUN=1"],
        cwd=ROOT, capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    assert "would submit" in out.stdout
    scripts = sorted((tmp_path / "r" / "dry" / "slurm-logs" / "dry-run").glob("*.sbatch"))
    stages = [s for s in scripts if "-runs-" not in s.name]
    arrays = [s for s in scripts if "-runs-" in s.name]
    assert (
        len(stages) == 13
    )  # data, tokenizer, 3 models, activations, sae, features, 2 labels, signals, 2 curricula
    assert len(arrays) == 4  # runs grouped by dependencies: (target x curriculum)
    text = "\n".join(s.read_text() for s in arrays)
    assert text.count("#SBATCH --array=0-1%2") == 4 and "--gpus-per-node=1" in text
    assert not (tmp_path / "st" / "submissions.jsonl").exists()
    # Arrays are named by the runs they hold and list them; the interpreter is the one jobs run.
    names = sorted(s.name.split("-", 1)[1] for s in arrays)
    assert names[0] == "runs-llama-s-saerl-s0..s1.sbatch", names
    assert (
        "# array task 1: llama-s-saerl-s1-"
        in next(s for s in arrays if "llama-s-saerl" in s.name).read_text()
    )
    assert " python -u -m submitit.core._submit" in text  # the h100 profile names `python`
    # A second dry run (one point fewer) leaves no script of the first; a profile naming no python
    # shows the submitting interpreter, which submitit then runs.
    grid["rl.seed"] = [0]
    sweep.write_text(yaml.safe_dump({"name": "dry", "overrides": paths, "grid": grid}))
    no_python = {
        k: v for k, v in yaml.safe_load((ROOT / "slurm/h100.yaml").read_text()).items() if k != "python"
    }
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(no_python))
    subprocess.run(
        [sys.executable, "-m", "saerl", "sweep", str(sweep), f"CLUSTER={tmp_path / 'p.yaml'}", "DRY_RUN=1"],
        cwd=ROOT, capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    again = list((tmp_path / "r" / "dry" / "slurm-logs" / "dry-run").glob("*.sbatch"))
    assert len(again) == 17 and not any("s0..s1" in s.name for s in again)
    assert all(f"{sys.executable} -u -m submitit.core._submit" in s.read_text() for s in again)


def test_submission_record_keeps_the_latest_per_node_and_names_bad_lines(tmp_path):
    from saerl.launch.submissions import Submission

    rec = SubmissionRecord(tmp_path)
    rec.append([Submission("s", "sae", "k1", "sae", "7", None, "/l", 1.0)])
    rec.append([Submission("s", "sae", "k1", "sae", "9", None, "/l", 2.0)])
    assert rec.latest()[("sae", "k1")].job_id == "9"
    with rec.path.open("a") as fh:
        fh.write("{broken\n")
    with pytest.raises(ValueError, match=r"submissions\.jsonl:3: not a submission record"):
        rec.latest()


def test_a_second_process_on_the_same_run_refuses(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from saerl.rl.run import run_lock
            with run_lock(__import__('pathlib').Path({str(tmp_path)!r})):
                print('locked', flush=True)
                time.sleep(30)
        """)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunConflict, match=rf"being trained by pid {holder.pid} on"), run_lock(tmp_path):
            pass
    finally:
        holder.kill()
        holder.wait()
    with run_lock(tmp_path):  # the lock died with its process
        pass


def test_debug_profile_runs_the_same_graph_through_submitit(tiny, tmp_path, capsys):
    from saerl.cli import main

    _, store = tiny
    sweep = tmp_path / "s.yaml"
    overrides = [*TINY_OVERRIDES, *RL_OVERRIDES, f"store_dir={store.root}", f"runs_dir={tmp_path / 'r'}"]
    sweep.write_text(yaml.safe_dump({"name": "dbg", "overrides": overrides, "grid": {"rl.seed": [0]}}))
    assert main(["sweep", str(sweep), "CLUSTER=debug"]) == 0
    (run,) = (tmp_path / "r" / "dbg").glob("qwen2-xs-saerl-s0-*")
    assert '"state": "done"' in (run / "status.json").read_text()
    capsys.readouterr()
    assert main(["sweep", str(sweep), "CLUSTER=debug"]) == 0
    assert "submitted 0 job(s)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("sweep", "runs"),
    [
        ("paper-main", 12),
        ("paper-transfer", 12),
        ("paper-ablations", 9),
        ("paper-rho", 5),
        ("paper-pretrained-sae", 6),
    ],
)
def test_the_paper_sweeps_plan_on_the_h100_profile_with_their_gpu_hours(sweep, runs, tmp_path):
    """Each paper sweep file plans without error (offline: hub ids are external nodes) and its header
    states the GPU-hours the plan estimates."""
    import re
    import subprocess

    root = Path(__file__).parent.parent
    saerl = str(root / ".venv/bin/saerl")
    out = subprocess.run(
        [saerl, "plan", f"sweeps/{sweep}.yaml", "CLUSTER=h100", f"store_dir={tmp_path}"],
        cwd=root, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert f"{runs} run(s)" in out.stdout + out.stderr
    hours = re.search(r"GPU-hours \(estimate\): ([\d.]+) for the whole sweep", out.stdout).group(1)
    stated = float(hours)
    header = (root / "sweeps" / f"{sweep}.yaml").read_text()
    assert f"{stated:,.1f}".rstrip("0").rstrip(".") in header  # the header quotes the plan
    dry = subprocess.run(
        [saerl, "sweep", f"sweeps/{sweep}.yaml", "CLUSTER=h100", "DRY_RUN=1",
         f"store_dir={tmp_path}", f"runs_dir={tmp_path / 'runs'}"],
        cwd=root, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    scripts = list((tmp_path / "runs" / sweep / "slurm-logs" / "dry-run").glob("*.openrlhf.sh"))
    assert len(scripts) == runs  # `make sweep ... DRY_RUN=1` renders every run's OpenRLHF command


def test_a_sweep_may_name_its_base_config_file(tmp_path):
    from saerl.config import ConfigError
    from saerl.launch.sweep import read_sweep

    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "base.yaml").write_text("rl:\n  steps: 7\n")
    (tmp_path / "sweeps").mkdir()
    sweep = tmp_path / "sweeps" / "s.yaml"
    sweep.write_text("name: s\nconfig: ../configs/base.yaml\ngrid:\n  rl.seed: [0, 1]\n")
    assert read_sweep(sweep).base == {"rl": {"steps": 7}}
    sweep.write_text("name: s\nconfig: ../configs/missing.yaml\n")
    with pytest.raises(ConfigError, match=r"config \.\./configs/missing\.yaml: cannot read"):
        read_sweep(sweep)
    (tmp_path / "configs" / "list.yaml").write_text("- 1\n")
    sweep.write_text("name: s\nconfig: ../configs/list.yaml\n")
    with pytest.raises(ConfigError, match="is not a mapping"):
        read_sweep(sweep)


def test_profile_sizes_are_checked_against_the_smallest_node_slurm_reports():
    from saerl.configlib import ConfigError
    from saerl.launch.profiles import ClusterProfile, Request, check_against_cluster

    nodes = [
        {"name": "a", "cpus": 96, "mem_mb": 1_900_000, "gpus": 8},
        {"name": "b", "cpus": 64, "mem_mb": 1_000_000, "gpus": 4},
    ]
    gpu, multi = Request(gpus_per_node=1), Request(gpus_per_node=4)
    fits = ClusterProfile(cpus_per_node=64, mem_gb_per_node=900, gpus_per_node=4, gpu=gpu, multi_gpu=multi)
    check_against_cluster(fits, "p", nodes)
    for field, value, message in [
        ("cpus_per_node", 96, "cpus_per_node=96 but .* have 64"),
        ("gpus_per_node", 8, "gpus_per_node=8 but .* have 4"),
        ("mem_gb_per_node", 1000, r"mem_gb_per_node=1000 \(1024000 MB\) but .* have 1000000 MB"),
    ]:
        profile = ClusterProfile(**{"gpus_per_node": 4, "gpu": gpu, "multi_gpu": multi, field: value})
        with pytest.raises(ConfigError, match=message):
            check_against_cluster(profile, "p", nodes)
    check_against_cluster(ClusterProfile(partition="gpu", cpus_per_node=10**6), "p", [])  # not this cluster


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("activations.layer=7", r"activations\.layer=7: the source model qwen2-xs has 4 layers \(0\.\.3"),
        ("sae.k=999", r"sae\.k=999 is larger than the SAE's width 256 \(sae\.expansion=2 x d_model 128\)"),
    ],
)
def test_what_the_models_config_refutes_is_refused_by_plan_and_sweep_naming_both_numbers(
    override, message, tmp_path
):
    where = [f"store_dir={tmp_path / 'st'}", f"runs_dir={tmp_path / 'r'}"]
    for command in (["plan", "sweeps/demo.yaml"], ["sweep", "sweeps/demo.yaml", "CLUSTER=h100", "DRY_RUN=1"]):
        out = subprocess.run(
            [sys.executable, "-m", "saerl", *command, override, *where],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert out.returncode == 2 and "Traceback" not in out.stderr
        assert re.search(message, out.stderr), out.stderr
    assert not (tmp_path / "r" / "demo" / "slurm-logs" / "dry-run").exists()


def test_an_sae_k_wider_than_the_sae_is_refused_before_training():
    from saerl.sae.config import SaeConfig
    from saerl.sae.training import check_width

    with pytest.raises(
        ValueError, match=r"sae\.k=64 is larger than the SAE's width 32 \(sae\.expansion=2 x d_model 16\)"
    ):
        check_width(SaeConfig(k=64, expansion=2), 16)
    check_width(SaeConfig(k=32, expansion=2), 16)  # k = width is allowed
    with pytest.raises(ValueError, match="k=64 is larger than the SAE's width d_sae=32"):
        SaeConfig(k=64, d_sae=32)  # a width the config fixes is checked at load


def test_the_plans_used_by_column_counts_runs(tmp_path):
    where = [f"store_dir={tmp_path / 'st'}", f"runs_dir={tmp_path / 'r'}"]
    out = subprocess.run(
        [sys.executable, "-m", "saerl", "plan", "sweeps/demo.yaml", *where],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    rows = {line.split()[2]: line for line in out.stdout.splitlines() if line.strip()[:1].isdigit()}
    assert rows["data"].endswith("2 run(s)")  # vanilla and SAERL both read the data
    assert rows["sae"].endswith("1 run(s)")  # only SAERL's curriculum needs the SAE
    assert all(line.endswith("  -") for name, line in rows.items() if name.startswith("llama-s-"))


def test_a_dry_run_with_a_local_profile_runs_nothing(tmp_path):
    where = [f"store_dir={tmp_path / 'st'}", f"runs_dir={tmp_path / 'r'}"]
    out = subprocess.run(
        [sys.executable, "-m", "saerl", "sweep", "sweeps/demo.yaml", "CLUSTER=local", "DRY_RUN=1", *where],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 2 and "nothing was run" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "st").exists() or not list((tmp_path / "st").glob("data/*/manifest.json"))
