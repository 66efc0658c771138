"""Ray inside a multi-node Slurm job, for real: the two-node Slurm of slurm/up.sh, CPU-only Ray
(ray==2.55.0, OpenRLHF 0.11.2's pin), and ``saerl.launch.ray_check`` standing in for the trainer,
started through the OpenRLHF driver (``saerl.rl.openrlhf_driver``) exactly as an OpenRLHF run is.

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

from saerl.launch.ray_cluster import RayClusterJob, RayNodeOptions, RayTask

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
    )
    py = sys.executable
    driver = [py, "-m", "saerl.rl.openrlhf_driver", "--entry", "saerl.launch.ray_check"]
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
    assert job.state.startswith("FAILED")
    rank0_err = job.stderr() or ""
    assert "RayClusterError: rank 1 (n2): OSError: scratch disk missing on n2" in rank0_err


def test_a_failing_driver_fails_the_job_with_its_output(tmp_path):
    job = submit(tmp_path, ["--out", str(tmp_path / "check.json"), "--fail"])
    with pytest.raises(Exception) as info:
        job.results()
    assert "the driver exited with 1" in str(info.value)
    assert "failing on purpose" in str(info.value)
