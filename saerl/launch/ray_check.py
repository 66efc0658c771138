"""A small Ray workload that checks a job's Ray cluster the way the trainer will use it:

    python -m saerl.rl.openrlhf.driver --entry saerl.launch.ray_check \\
        --setup-hook saerl.launch.ray_check.mark_worker -- --out check.json

It runs one task pinned to each alive node and records, per node, the host, the process, whether
the driver's ``worker_process_setup_hook`` ran in that worker, and whether the driver's forwarded
environment reached it (``SAERL_*``, ``WANDB_*``, ``HF_*``). It exits non-zero when a node is missing
or a worker lacks the hook or the environment. On a GPU cluster it is the first thing to run in a
new environment (slurm/README.md); here it stands in for OpenRLHF in the two-node Slurm tests.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from pathlib import Path

HOOK_MARK = "SAERL_SETUP_HOOK_RAN"


def mark_worker() -> None:
    """A worker_process_setup_hook that only leaves a mark in the worker's environment."""
    os.environ[HOOK_MARK] = str(os.getpid())


def probe(expect_env: list[str]) -> dict[str, object]:
    import ray

    return {
        "node_id": ray.get_runtime_context().get_node_id(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "hook": os.environ.get(HOOK_MARK) == str(os.getpid()),
        "env": {k: os.environ.get(k) for k in expect_env},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="saerl.launch.ray_check")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--expect-env", nargs="*", default=[], help="variables every worker must see")
    p.add_argument("--fail", action="store_true", help="fail on purpose after the checks (tests)")
    p.add_argument("--hold", type=float, default=0, help="keep the cluster busy this many seconds after")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS", "auto"))
    nodes = [n["NodeID"] for n in ray.nodes() if n.get("Alive")]
    task = ray.remote(num_cpus=1)(probe)
    results = ray.get(
        [
            task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=n, soft=False)).remote(
                args.expect_env
            )
            for n in nodes
        ]
    )
    env_ok = all(all(r["env"][k] == os.environ.get(k) for k in args.expect_env) for r in results)  # type: ignore[index]
    report = {
        "nodes": len(nodes),
        "distinct_nodes": len({r["node_id"] for r in results}),
        "hook_in_every_worker": all(r["hook"] for r in results),
        "env_in_every_worker": env_ok,
        "workers": results,
    }
    args.out.write_text(json.dumps(report, indent=1))
    print(json.dumps({k: v for k, v in report.items() if k != "workers"}))
    if args.fail:
        raise SystemExit("ray_check: failing on purpose (--fail)")
    if args.hold:  # a long job, e.g. to requeue it while it runs
        import time

        time.sleep(args.hold)
    ok = report["distinct_nodes"] == len(nodes) and report["hook_in_every_worker"] and env_ok
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())


def submit_check(profile: object, nodes: int, folder: Path) -> dict[str, object]:
    """Submit this check as one Slurm job of ``nodes`` nodes with the profile's multi_gpu request,
    Ray and the driver from its ``openrlhf_env``; wait, and return the report (raises with the
    failing rank's error)."""
    import dataclasses

    import submitit
    from submitit.core.utils import FailedJobError

    from saerl.launch.profiles import ClusterProfile, check_request
    from saerl.launch.slurm import request_parameters
    from saerl.rl.openrlhf.ray_cluster import RayClusterError, RayClusterJob, RayNodeOptions
    from saerl.rl.openrlhf.run import environment

    assert isinstance(profile, ClusterProfile)
    req = dataclasses.replace(profile.multi_gpu, nodes=nodes)
    check_request(profile, "multi_gpu", req)
    python, ray_bin = environment(profile.openrlhf_env)
    folder = folder.resolve()
    ex = submitit.SlurmExecutor(folder=folder / "logs", max_num_timeout=0, python=profile.python or None)
    params = request_parameters(
        profile, dataclasses.replace(req, time_min=min(req.time_min, 15)), "saerl-ray-check"
    )
    ex.update_parameters(**params)
    out = folder / "ray-check.json"
    driver = [
        python,
        "-m",
        "saerl.rl.openrlhf.driver",
        "--nodes",
        str(nodes),
        "--entry",
        "saerl.launch.ray_check",
    ]
    driver += ["--setup-hook", "saerl.launch.ray_check.mark_worker", "--", "--out", str(out)]
    job = ex.submit(RayClusterJob(driver, folder / "rendezvous", RayNodeOptions(ray_bin=ray_bin)))
    try:
        job.results()
    except FailedJobError as exc:
        tail = "\n".join(str(exc).strip().splitlines()[-3:])
        raise RayClusterError(
            f"the check job {job.job_id} failed (logs in {folder / 'logs'}):\n{tail}"
        ) from None
    report: dict[str, object] = json.loads(out.read_text())
    report["job_id"] = job.job_id
    return report
