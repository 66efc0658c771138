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


def job_text(node: Node, states: dict[tuple[str, str], str], jobs: dict[tuple[str, str], Any]) -> str:
    """The job column: the node's latest job and its Slurm state, read against the node itself (a
    node built by its job reads as built, whatever happened to a later job), a job cancelled because
    an input's job failed names that job, and a log is shown only where it exists."""
    job = jobs.get(node.id)
    if states[node.id] in ("built", "done"):
        return states[node.id] if job is None else f"{job[0]} {states[node.id]}"
    if job is None:
        return "-"
    job_id, state, log = job
    text = f"{job_id} {state}"
    if state.split()[0] == "CANCELLED":
        culprits = [
            f"{jobs[i.id][0]} ({i.label}) {jobs[i.id][1]}"
            for i in node.inputs.values()
            if i.id in jobs
            and states.get(i.id) not in ("built", "done", "external")
            and jobs[i.id][1].split()[0] in FAILED_STATES
        ]
        if culprits:
            text += f" because input job {culprits[0]}"
    if log and state.split()[0] in FAILED_STATES and Path(log).is_file():
        text += f" (log: {log})"
    return text


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
            row += "  " + job_text(n, states, jobs)
        else:
            row += "  -" if n.stage == "run" else f"  {plan.users.get(n.id, 0)} run(s)"
        lines.append(row)
    if profile is not None:
        total = sum(node_request(profile, n).gpu_hours for n in nodes if not n.external)
        lines.append(
            f"  GPU-hours (estimate): {total:.2f} for the whole sweep, {todo_hours:.2f} still to run"
        )
        lines += checkpoint_disk_lines(nodes)
    runs = [n for n in nodes if n.stage == "run"]
    if runs:
        lines.append("  runs and what they need (vanilla curricula need no SAE):")
        for n in runs:
            cur = n.inputs["curriculum"]
            sae = "SAE signals" if "signals" in cur.inputs else "no SAE"
            target = n.inputs["target"].label
            lines.append(f"    {n.params['name']:<44} curriculum {cur.key[:10]} ({sae}), {target}")
        targets = {n.inputs["target"].id: n.inputs["target"] for n in runs}
        lines.append("  where generation stops (evaluation, rollout labels, TRL and OpenRLHF rollouts):")
        for t in targets.values():
            lines.append(f"    {t.label.removeprefix('model '):<44} {stop_rule_text(t, store_root)}")
    return "\n".join(lines)


def checkpoint_disk_lines(nodes: list[Node]) -> list[str]:
    """The checkpoint disk the sweep's OpenRLHF runs need at their peak, per target and in all."""
    from saerl.rl.openrlhf.model import checkpoint_disk, parameter_count

    runs = [n for n in nodes if n.stage == "run" and n.params["rl"].backend == "openrlhf"]
    if not runs:
        return []
    lines, total, unknown = ["  checkpoint disk (estimate, OpenRLHF runs at their peak):"], 0, 0
    by_target: dict[str, list[Node]] = {}
    for n in runs:
        by_target.setdefault(n.params["rl"].target_model, []).append(n)
    for target, group in by_target.items():
        params, source = parameter_count(target)
        o = group[0].params["rl"].openrlhf
        if params is None:
            unknown += len(group)
            lines.append(f"    {target}: unknown size (not on this machine, no size in its name)")
            continue
        each = checkpoint_disk(o.keep_checkpoints, bool(o.best_checkpoint_metric), params)
        total += each * len(group)
        lines.append(
            f"    {target} ({params / 1e9:.2f}B parameters, from its {source}): {each / 1e9:.0f} GB per "
            f"run ({o.keep_checkpoints} checkpoint(s){' + best' if o.best_checkpoint_metric else ''} "
            f"of 14 bytes/parameter + the final model) x {len(group)} run(s)"
        )
    rest = f" (+ {unknown} run(s) of unknown size)" if unknown else ""
    lines.append(f"    all runs: {total / 1e12:.2f} TB{rest}")
    return lines


def stop_rule_text(node: Node, store_root: Path) -> str:
    """The stop rule of a model node, read from its tokenizer and generation config where its files
    are on this machine (a built or external folder, a hub id in the HF cache)."""
    folder: Path | None = Path(node.external) if node.external else store_root / node.stage / node.key
    if node.external and not Path(node.external).is_dir():
        folder = _cached_snapshot(node.external)
    if folder is None or not (folder / "config.json").is_file():
        return "its EOS and its chat template's turn end (read from its tokenizer when built or cached)"
    from saerl.models.generation import stop_rule
    from saerl.models.loading import ModelError, load_tokenizer

    try:
        return stop_rule(folder, load_tokenizer(folder)).describe()
    except ModelError as exc:
        return f"unknown: {exc}"


def _cached_snapshot(repo: str) -> Path | None:
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo, local_files_only=True))
    except Exception:  # not a hub id, or not in this machine's cache
        return None
