"""Ray inside a multi-node Slurm job, for real: the two-node Slurm of slurm/up.sh, CPU-only Ray
(ray==2.55.0, OpenRLHF 0.11.2's pin), and ``saerl.launch.ray_check`` standing in for the trainer,
started through the OpenRLHF driver (``saerl.rl.openrlhf.driver``) exactly as an OpenRLHF run is.

Skips (saying why) without Slurm or Ray; with SAERL_REQUIRE_SLURM=1 (CI) it fails instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from saerl.rl.openrlhf.ray_cluster import RayClusterJob, RayNodeOptions, RayTask

ROOT = Path(__file__).parent.parent
TESTS = Path(__file__).parent


def _why_not() -> str:
    if shutil.which("sinfo") is None:
        return "no Slurm here (make slurm-up starts a two-node one)"
    out = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True, check=False)
    if out.returncode or sum(s.startswith(("idle", "mix", "alloc")) for s in out.stdout.split()) < 2:
        return "the two-node Slurm is not up (make slurm-up)"
    if not (Path(sys.executable).parent / "ray").exists():
        return "Ray is not installed in this environment (pip install -e '.[ray]')"
    return ""


if why := _why_not():
    if os.environ.get("SAERL_REQUIRE_SLURM"):
        raise RuntimeError(f"SAERL_REQUIRE_SLURM is set: {why}")
    pytest.skip(why, allow_module_level=True)


def final_state(job_id: str, timeout: float = 120) -> str:
    """The job's Slurm state once it has ended (submitit's cached state can lag behind)."""
    import time

    from saerl.launch.submissions import ACTIVE, job_states

    deadline = time.time() + timeout
    while (state := job_states([job_id])[job_id]) in ACTIVE or state == "UNKNOWN":
        if time.time() > deadline:
            break
        time.sleep(1)
    return state


def fail_on_rank_1(task: RayTask) -> None:
    """Pickled by reference into the job (tests/ is on its PYTHONPATH)."""
    if task.rank == 1:
        raise OSError(f"scratch disk missing on {task.node} (injected by the test)")


def submit(tmp_path: Path, driver_args: list[str], on_joined=None):
    import submitit

    ex = submitit.SlurmExecutor(folder=tmp_path / "logs", max_num_timeout=0)
    ex.update_parameters(
        job_name="saerl-ray-check",
        nodes=2,
        ntasks_per_node=1,
        cpus_per_task=2,
        mem="2000MB",
        time=10,
        partition="debug",
        setup=[f"export PYTHONPATH={TESTS}"],
        additional_parameters={"requeue": True},
    )
    py = sys.executable
    driver = [py, "-m", "saerl.rl.openrlhf.driver", "--entry", "saerl.launch.ray_check"]
    driver += ["--setup-hook", "saerl.launch.ray_check.mark_worker", "--", *driver_args]
    opts = RayNodeOptions(
        ray_bin=str(Path(py).parent / "ray"), num_cpus=1, env={"SAERL_RAY_PROBE": "forwarded"}
    )
    return ex.submit(RayClusterJob(driver, tmp_path / "rdv", opts, on_joined))


def test_ray_starts_on_both_nodes_runs_the_driver_and_every_rank_returns(tmp_path):
    out = tmp_path / "check.json"
    job = submit(tmp_path, ["--out", str(out), "--expect-env", "SAERL_RAY_PROBE", "WANDB_MODE"])
    results = job.results()  # one per task; raises if any task failed
    assert len(results) == 2
    assert results[0].startswith("rank 0 (n1): driver finished on 2 node(s)")
    assert results[1].startswith("rank 1 (n2): joined ")
    report = json.loads(out.read_text())
    assert report["nodes"] == 2 and report["distinct_nodes"] == 2
    assert report["hook_in_every_worker"] and report["env_in_every_worker"]
    assert {w["env"]["SAERL_RAY_PROBE"] for w in report["workers"]} == {"forwarded"}
    (rdv,) = (tmp_path / "rdv").glob(f"ray-{job.job_id}-attempt*")
    assert json.loads((rdv / "done.json").read_text()) == {"ok": True}
    # every rank stopped its own node: no process of this job's Ray cluster is left on the machine
    port = json.loads((rdv / "head.json").read_text())["address"].rsplit(":", 1)[1]
    left = subprocess.run(["pgrep", "-f", f"(gcs_server|raylet).*{port}"], capture_output=True, check=False)
    assert left.returncode == 1, left.stdout


def test_an_error_on_rank_1_fails_the_job_with_that_error(tmp_path):
    job = submit(tmp_path, ["--out", str(tmp_path / "check.json")], on_joined=fail_on_rank_1)
    with pytest.raises(Exception) as info:
        job.results()
    assert "scratch disk missing on n2" in str(info.value)
    assert final_state(job.job_id).startswith("FAILED")
    rank0_err = job.stderr() or ""
    assert "RayClusterError: rank 1 (n2): OSError: scratch disk missing on n2" in rank0_err


def test_a_failing_driver_fails_the_job_with_its_output(tmp_path):
    job = submit(tmp_path, ["--out", str(tmp_path / "check.json"), "--fail"])
    with pytest.raises(Exception) as info:
        job.results()
    assert "the driver exited with 1" in str(info.value)
    assert "failing on purpose" in str(info.value)


def openrlhf_overrides(tmp_path: Path) -> list[str]:
    from conftest import RL_OVERRIDES, TINY_OVERRIDES

    overrides = [
        *TINY_OVERRIDES,
        *RL_OVERRIDES,
        f"store_dir={tmp_path / 'store'}",
        f"runs_dir={tmp_path / 'runs'}",
    ]
    overrides += ["name=orl", "rl.backend=openrlhf", "curriculum.mode=vanilla", "curriculum.batch_size=8"]
    overrides += ["rl.steps=3", "rl.eval_every=3", "rl.save_every=3", "rl.wandb=offline"]
    overrides += ["rl.openrlhf.num_nodes=2", "rl.openrlhf.gpus_per_node=1", "rl.openrlhf.vllm_engines=2"]
    overrides += [
        "rl.openrlhf.entry=openrlhf_standin",
        "rl.openrlhf.setup_hook=saerl.launch.ray_check.mark_worker",
    ]
    return overrides


def openrlhf_run_setup(tmp_path: Path, overrides: list[str], setup: tuple[str, ...] = ()):
    """(config, run node, a 2-node submitit executor) with the run's inputs built here."""
    import submitit

    from saerl.config import load_experiment
    from saerl.launch.graph import StageGraph
    from saerl.launch.local import LocalExecutor
    from saerl.store import ArtifactStore

    cfg = load_experiment(overrides=overrides)
    run = StageGraph(cfg).run
    ex = LocalExecutor(ArtifactStore(cfg.store_dir), "cpu")
    for node in run.inputs.values():  # the upstream jobs' work (data, curriculum, target, eval0)
        ex.materialize(node)
    slurm = submitit.SlurmExecutor(folder=tmp_path / "logs", max_num_timeout=0)
    slurm.update_parameters(
        nodes=2, ntasks_per_node=1, cpus_per_task=1, mem="3000MB", time=15, partition="debug",
        setup=[f"export PYTHONPATH={TESTS}", *setup],
    )  # fmt: skip
    return cfg, run, slurm


def test_an_openrlhf_run_job_trains_through_ray_on_both_nodes_in_curriculum_order(tmp_path):
    """The whole OpenRLHF run job on two Slurm nodes, with tests/openrlhf_standin.py in the place of
    OpenRLHF's entry point (it parses the arguments with OpenRLHF's own parser and scores every
    step's samples with saerl's reward file in Ray tasks on both nodes)."""
    from saerl.config import to_dict
    from saerl.launch.jobs import NodeJob

    overrides = openrlhf_overrides(tmp_path)
    cfg, run, slurm = openrlhf_run_setup(tmp_path, overrides)
    job = slurm.submit(NodeJob(to_dict(cfg), (), "run", run.key, run.label))
    rank0, rank1 = job.results()
    run_dir = tmp_path / "runs" / "orl" / run.params["name"]
    assert rank0 == f"{run_dir}: done (order kept: True)"
    assert rank1.startswith("rank 1 (n2): joined ")
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "done" and status["order_kept"] is True
    audit = json.loads((run_dir / "openrlhf" / "order_audit.json").read_text())
    assert audit == {
        "curriculum_prompts": 24,
        "scored_prompts": 24,
        "unknown_ids": 0,
        "off_step": 0,
        "in_order": True,
    }
    seen = json.loads((run_dir / "checkpoints" / "standin.json").read_text())
    assert len(seen["steps"]) == 3
    assert len({part["node"] for step in seen["steps"] for part in step}) == 2  # both nodes scored
    ids = {part["wandb_run_id"] for step in seen["steps"] for part in step}
    step0 = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert step0[0]["step"] == 0 and "eval/average" in step0[0]  # from the eval0 node
    offline = {p.name.rsplit("-", 1)[-1] for p in (run_dir / "wandb").glob("offline-run-*")}
    assert ids == offline == {seen["wandb_run"]}  # step 0 and OpenRLHF's workers log to one W&B id
    assert "--ckpt.output_dir" in (run_dir / "openrlhf" / "command.sh").read_text()
    # OpenRLHF loaded the run's model folder: the target's files, a generation config with its stops.
    actor = run_dir / "openrlhf" / "actor-model"
    assert seen["args"]["actor.model_name_or_path"] == str(actor)
    assert (actor / "model.safetensors").is_symlink() and status["stop_tokens"] == ["<|im_end|>"]
    # A second job for a done run returns on every rank without starting Ray.
    again = slurm.submit(NodeJob(to_dict(cfg), (), "run", run.key, run.label)).results()
    assert again[0] == f"{run_dir}: already done" and "nothing to run" in again[1]


def files_holding(secret: bytes, roots: list[Path], since: float) -> list[str]:
    """Every file under ``roots`` written since ``since`` whose bytes contain ``secret``."""
    found = []
    for root in roots:
        for path in root.rglob("*") if root.exists() else []:
            try:
                recent = path.is_file() and not path.is_symlink() and path.stat().st_mtime >= since
                if recent and secret in path.read_bytes():
                    found.append(str(path))
            except OSError:  # a file another job removed meanwhile
                continue
    return found


def test_the_wandb_key_reaches_openrlhfs_logger_and_no_file_the_job_writes(tmp_path, monkeypatch):
    """A key in the submitting environment (as a user exports it before `make sweep`): OpenRLHF's W&B
    logger starts in a Ray actor (the stand-in does what its WandbLogger does, after printing every
    argument as OpenRLHF does), yet no file of the job holds the key: run folder, Slurm logs, the
    rendezvous (Ray and driver logs), the store, Ray's session folder."""
    import secrets
    import time

    from saerl.config import to_dict
    from saerl.launch.jobs import NodeJob
    from saerl.rl.run import wandb_id

    key = secrets.token_hex(20)  # the shape of a W&B key
    since = time.time() - 1
    monkeypatch.setenv("WANDB_API_KEY", key)
    cfg, run, slurm = openrlhf_run_setup(tmp_path, openrlhf_overrides(tmp_path))
    job = slurm.submit(NodeJob(to_dict(cfg), (), "run", run.key, run.label))
    assert job.results()[0].endswith("done (order kept: True)")
    run_dir = tmp_path / "runs" / "orl" / run.params["name"]
    seen = json.loads((run_dir / "checkpoints" / "standin.json").read_text())
    assert seen["wandb_run"] == wandb_id(to_dict(cfg), run.params["name"])  # W&B on, in the run's id
    driver_logs = list(tmp_path.rglob("driver.log"))
    assert driver_logs and any("logger.wandb.key" in p.read_text() for p in driver_logs)
    leaks = files_holding(key.encode(), [tmp_path, Path("/tmp/ray")], since)
    assert leaks == [], f"the W&B key was written into {leaks}"


def test_saerl_ray_check_reports_every_node_of_a_profile_and_refuses_impossible_requests(tmp_path):
    saerl = str(ROOT / ".venv/bin/saerl")
    ok = subprocess.run(
        [saerl, "ray-check", "CLUSTER=local-slurm", "--out", str(tmp_path)], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    summary = json.loads(ok.stdout.splitlines()[0])
    assert summary["distinct_nodes"] == 2 and summary["hook_in_every_worker"]
    assert ok.stdout.count("setup hook ran: True") == 2
    too_many = subprocess.run(
        [saerl, "ray-check", "CLUSTER=local-slurm", "NODES=3"], capture_output=True, text=True
    )
    assert too_many.returncode == 2
    assert "multi_gpu.nodes=3 exceeds max_nodes=2" in too_many.stderr


def test_a_requeued_ray_job_starts_again_in_a_fresh_rendezvous_and_finishes(tmp_path):
    """`scontrol requeue` while the driver runs: Slurm kills every rank, restarts the job, and the
    second attempt brings Ray up again (new rendezvous folder, new head port) and finishes."""
    import time

    job = submit(tmp_path, ["--out", str(tmp_path / "check.json"), "--hold", "25"])
    first = tmp_path / "rdv" / f"ray-{job.job_id}-attempt0"
    deadline = time.time() + 120
    while not (tmp_path / "check.json").exists() and time.time() < deadline:
        time.sleep(0.5)
    assert (tmp_path / "check.json").exists(), "the first attempt's driver never ran"
    subprocess.run(["scontrol", "requeue", job.job_id], check=True)
    assert final_state(job.job_id, timeout=400) == "COMPLETED"
    sacct = ["sacct", "-D", "-X", "-n", "-P", "-o", "JobID,State", "-j", job.job_id]
    attempts = subprocess.run(sacct, capture_output=True, text=True).stdout
    assert "REQUEUED" in attempts, attempts
    second = tmp_path / "rdv" / f"ray-{job.job_id}-attempt1"
    assert json.loads((second / "done.json").read_text()) == {"ok": True}
    killed = first / "done.json"  # the first attempt was killed mid-run: not a success
    assert not killed.exists() or json.loads(killed.read_text())["ok"] is False
    heads = {json.loads((d / "head.json").read_text())["address"] for d in (first, second)}
    assert len(heads) == 2
    assert json.loads((tmp_path / "check.json").read_text())["distinct_nodes"] == 2


def test_two_jobs_on_one_openrlhf_run_one_trains_the_other_fails_fast_on_every_rank(tmp_path):
    """The second job finds the run locked by the first: its rank 0 fails with the holder named and
    its rank 1 returns that error at once instead of waiting for a Ray head."""
    import time

    from saerl.config import to_dict
    from saerl.launch.jobs import NodeJob

    cfg, run, slurm = openrlhf_run_setup(tmp_path, openrlhf_overrides(tmp_path), ("export STANDIN_HOLD=30",))
    first = slurm.submit(NodeJob(to_dict(cfg), (), "run", run.key, run.label))
    run_dir = tmp_path / "runs" / "orl" / run.params["name"]
    deadline = time.time() + 120
    while not (run_dir / "openrlhf" / "command.sh").exists() and time.time() < deadline:
        time.sleep(0.5)  # the first job holds the run
    start = time.time()
    second = slurm.submit(NodeJob(to_dict(cfg), (), "run", run.key, run.label))
    with pytest.raises(Exception, match="this run is being trained by pid"):
        second.results()
    assert final_state(second.job_id).startswith("FAILED") and time.time() - start < 120
    rank1 = (tmp_path / "logs" / f"{second.job_id}_1_log.err").read_text()
    assert "rank 0 ended before rank 1 joined: RunConflict" in rank1
    assert first.results()[0].endswith("done (order kept: True)")
