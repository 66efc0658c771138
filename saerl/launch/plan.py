"""`saerl plan` / `saerl status`: what a config or sweep needs, in build order, with keys, what
already exists and, with a cluster profile, each node's request, estimated GPU-hours and job.

Nothing is built or read: a stage node counts as built when its manifest is in the store (the
executor verifies it before use), a run by its folder's status.json, a job by Slurm's state.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from saerl.launch.graph import Node, Plan
from saerl.launch.profiles import ClusterProfile, Request, check_request
from saerl.store import MANIFEST

FAILED_STATES = {
    *("FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY"),
    *("NODE_FAIL", "BOOT_FAIL", "DEADLINE", "PREEMPTED", "UNKNOWN"),
}


def node_state(node: Node, store_root: Path) -> str:
    if node.external:
        return "external"
    if node.stage == "run":
        from saerl.rl.run import status

        return str(status(run_folder(node))["state"])
    return "built" if (store_root / node.stage / node.key / MANIFEST).is_file() else "missing"


def node_request(profile: ClusterProfile, node: Node) -> Request:
    """The node's request on this cluster: its kind's, except an OpenRLHF run's nodes and GPUs per
    node, which are the run's own placement (rl.openrlhf.num_nodes, gpus_per_node); a placement the
    cluster cannot hold is rejected naming those keys."""
    req = profile.request(node.resource)
    if node.stage != "run" or node.resource != "multi_gpu":
        return req
    o = node.params["rl"].openrlhf
    req = dataclasses.replace(req, nodes=o.num_nodes, gpus_per_node=o.gpus_per_node)
    try:
        check_request(profile, "multi_gpu", req)
    except ValueError as exc:
        raise ValueError(
            f"{node.params['name']}: rl.openrlhf.num_nodes={o.num_nodes} x gpus_per_node="
            f"{o.gpus_per_node} does not fit this cluster ({exc})"
        ) from None
    return req


def run_folder(node: Node) -> Path:
    config = node.params["config"]
    return Path(config["runs_dir"]) / config["name"] / node.params["name"]


def describe(
    plan: Plan,
    store_root: Path,
    title: str,
    profile: ClusterProfile | None = None,
    jobs: dict[tuple[str, str], Any] | None = None,
) -> str:
    """The plan as a table. ``jobs``: per node id, its latest (job id, Slurm state, stderr path)."""
    states = {n.id: node_state(n, store_root) for n in plan.nodes}
    nodes = plan.nodes
    built = sum(states[n.id] in ("built", "external", "done") for n in nodes)
    n_runs = sum(n.stage == "run" for n in nodes)
    lines = [f"{title}: {n_runs} run(s), {len(nodes)} node(s) ({built} done or external), in build order"]
    head = f"  {'#':>3}  {'stage':<11} {'node':<40} {'key':<16}  {'state':<8}"
    if profile is not None:
        head += f"  {'request':<26} {'gpu-h':>6}"
    lines.append(head + ("  job" if jobs is not None else "  used by"))
    todo_hours = 0.0
    for i, n in enumerate(nodes, 1):
        name = n.params["name"] if n.stage == "run" else n.label.removeprefix(n.stage + " ")
        row = f"  {i:>3}  {n.stage:<11} {name[:40]:<40} {n.key[:16]:<16}  {states[n.id]:<8}"
        if profile is not None:
            req = node_request(profile, n)
            ask = f"{req.nodes}x{req.gpus_per_node}gpu {req.cpus_per_task}cpu {req.mem_gb:g}G {req.time_min}m"
            hours = 0.0 if n.external else req.gpu_hours
            if states[n.id] not in ("built", "done", "external"):
                todo_hours += hours
            row += f"  {ask if not n.external else '-':<26} {hours:>6.2f}"
        if jobs is not None:
            job = jobs.get(n.id)
            row += f"  {job[0]} {job[1]}" if job else "  -"
            if job and job[2] and job[1].split()[0] in FAILED_STATES:
                row += f" (log: {job[2]})"
        else:
            row += f"  {plan.users.get(n.id, 0)} target(s)"
        lines.append(row)
    if profile is not None:
        total = sum(node_request(profile, n).gpu_hours for n in nodes if not n.external)
        lines.append(
            f"  GPU-hours (estimate): {total:.2f} for the whole sweep, {todo_hours:.2f} still to run"
        )
    runs = [n for n in nodes if n.stage == "run"]
    if runs:
        lines.append("  runs and what they need (vanilla curricula need no SAE):")
        for n in runs:
            cur = n.inputs["curriculum"]
            sae = "SAE signals" if "signals" in cur.inputs else "no SAE"
            target = n.inputs["target"].label
            lines.append(f"    {n.params['name']:<44} curriculum {cur.key[:10]} ({sae}), {target}")
    return "\n".join(lines)
