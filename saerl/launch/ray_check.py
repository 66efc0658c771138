"""A small Ray workload that checks a job's Ray cluster the way the trainer will use it:

    python -m saerl.rl.openrlhf_driver --entry saerl.launch.ray_check \\
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
    ok = report["distinct_nodes"] == len(nodes) and report["hook_in_every_worker"] and env_ok
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
