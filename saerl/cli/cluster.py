"""The sweep commands: `saerl study` (every point locally), `saerl plan` (the graph, what is built,
with CLUSTER= each node's request and job), and `saerl sweep|status|cancel|sync` on a Slurm cluster."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from saerl.config import load_experiment
from saerl.launch.graph import StageGraph
from saerl.launch.profiles import ClusterProfile


def cmd_study(sweep_file: Path, overrides: list[str]) -> None:
    """Run every point of a sweep file locally, in order, then print the per-run summary."""
    from analysis.sources.rundirs import read_run
    from analysis.summary import format_table, summary_rows
    from analysis.tidy import build
    from saerl.launch.sweep import read_sweep, run_sweep

    sweep = read_sweep(sweep_file, overrides)
    print(f"sweep {sweep.name}: {len(sweep.points)} runs")
    paths = run_sweep(sweep)
    print(format_table(summary_rows(build(read_run(p) for p in paths))))


def cluster_args(args: list[str]) -> tuple[list[str], str, bool]:
    """(overrides, CLUSTER=<profile>, DRY_RUN=1) from the arguments after a sweep or config file."""
    rest, cluster, dry = [], "", False
    for arg in args:
        if arg.startswith("CLUSTER="):
            cluster = arg.partition("=")[2]
        elif arg.startswith("DRY_RUN="):
            dry = arg.partition("=")[2] not in ("", "0", "false", "no")
        else:
            rest.append(arg)
    return rest, cluster, dry


def cmd_plan(target: Path | None, args: list[str]) -> None:
    """Print the stage graph of a config or sweep file: nodes in build order, keys, what is built;
    with CLUSTER=<profile>, each node's request, GPU-hours and its latest job."""
    import yaml as _yaml

    from saerl.launch.graph import Plan
    from saerl.launch.plan import describe
    from saerl.launch.sweep import check_distinct, read_sweep, sweep_graphs

    overrides, cluster, _ = cluster_args(args)
    is_sweep = False
    if target is not None and target.is_file():
        try:
            spec = _yaml.safe_load(target.read_text())
        except _yaml.YAMLError:
            spec = None  # load_experiment below names the file and the YAML error
        is_sweep = isinstance(spec, dict) and "grid" in spec
    if is_sweep:
        assert target is not None
        if cluster:
            cmd_status(target, args, title="plan")
            return
        graphs = sweep_graphs(read_sweep(target, overrides))
        check_distinct(graphs)
        title = f"sweep {graphs[0].cfg.name} ({target})"
    else:
        graphs = [StageGraph(load_experiment(target, overrides))]
        title = f"config {target or '(defaults)'}"
    plan = Plan.of([g.run for g in graphs])
    from saerl.launch.checks import check_models, check_openrlhf_runs

    check_models(plan.nodes, "fix it before submitting")
    check_openrlhf_runs(plan.nodes, "fix it before submitting")
    profile = None
    if cluster:
        from saerl.launch.profiles import load_profile

        profile = load_profile(cluster)
    print(describe(plan, Path(graphs[0].cfg.store_dir), title, profile))


def cmd_sweep(sweep_file: Path, args: list[str]) -> None:
    """Submit a sweep to the cluster of CLUSTER=<profile> (DRY_RUN=1: write the sbatch scripts only)."""
    from saerl.launch.plan import describe
    from saerl.launch.profiles import load_profile
    from saerl.launch.slurm import SweepPlan, submit_sweep
    from saerl.launch.sweep import read_sweep

    overrides, cluster, dry = cluster_args(args)
    if not cluster:
        raise ValueError("sweep: name a cluster profile, e.g. CLUSTER=local-slurm (see slurm/*.yaml)")
    profile = load_profile(cluster)
    check_profile_here(profile, cluster)
    sp = SweepPlan.of(read_sweep(sweep_file, overrides))
    decisions = submit_sweep(sp, profile, dry_run=dry)
    jobs = {d.node.id: (d.job_id or "-", decision_text(d), "") for d in decisions}
    print(describe(sp.plan, sp.store_root, f"sweep {sp.name} on {cluster}", profile, jobs))
    n_new = sum(d.action in ("submitted", "dry-run") for d in decisions)
    where = f"; scripts in {sp.log_dir / 'dry-run'}" if dry else f"; logs in {sp.log_dir}"
    print(f"{'would submit' if dry else 'submitted'} {n_new} job(s){where}")


def check_profile_here(profile: ClusterProfile, name: str) -> None:
    """Where Slurm answers, the profile's node sizes against what sinfo reports."""
    from saerl.launch.profiles import check_against_cluster, nodes_of

    if profile.executor == "slurm" and (nodes := nodes_of(profile.partition)) is not None:
        check_against_cluster(profile, name, nodes)


def decision_text(d: Any) -> str:
    """What `make sweep` did with a node: 'running' / 'pending' (already queued: its Slurm state),
    'submitted (previous job 29 CANCELLED)', 'built', ..."""
    if d.action == "queued":
        return str(d.detail or "queued").lower()
    if d.action in ("submitted", "dry-run") and d.detail:
        return f"{d.action} ({d.detail})"
    return str(d.action)


def cmd_status(sweep_file: Path, args: list[str], title: str = "status") -> None:
    """Every node of a sweep: built/done in the store and run folders, its latest job and Slurm state,
    the log of each failure."""
    from saerl.launch.plan import describe
    from saerl.launch.profiles import load_profile
    from saerl.launch.slurm import SweepPlan
    from saerl.launch.submissions import SubmissionRecord, job_states
    from saerl.launch.sweep import read_sweep

    overrides, cluster, _ = cluster_args(args)
    profile = load_profile(cluster) if cluster else None
    if profile is not None and title == "plan":
        check_profile_here(profile, cluster)
    sp = SweepPlan.of(read_sweep(sweep_file, overrides))
    if title == "plan":
        from saerl.launch.checks import check_models, check_openrlhf_runs

        check_models(sp.plan.nodes, "fix it before submitting")
        check_openrlhf_runs(sp.plan.nodes, "fix it before submitting")
    latest = SubmissionRecord(sp.store_root).latest()
    states = job_states(s.job_id for s in latest.values())
    jobs = {i: (s.job_id, states.get(s.job_id, "UNKNOWN"), s.stderr) for i, s in latest.items()}
    print(describe(sp.plan, sp.store_root, f"{title}: sweep {sp.name}", profile, jobs))


def cmd_cancel(sweep_file: Path, args: list[str]) -> None:
    """Cancel the sweep's jobs that are still pending or running, except those another live sweep's
    jobs wait on (sweeps that share stages share their jobs)."""
    import subprocess

    from saerl.launch.slurm import SweepPlan
    from saerl.launch.submissions import (
        ACTIVE,
        SubmissionRecord,
        job_states,
        pending_dependencies,
        split_cancel,
    )
    from saerl.launch.sweep import read_sweep

    overrides, _, _ = cluster_args(args)
    sp = SweepPlan.of(read_sweep(sweep_file, overrides))
    plan_ids = {n.id for n in sp.plan.nodes}
    latest = SubmissionRecord(sp.store_root).latest()
    states = job_states(s.job_id for s in latest.values())
    live = {s.job_id: s for s in latest.values() if states.get(s.job_id) in ACTIVE}
    mine = {j for j, s in live.items() if s.node_id in plan_ids}
    cancel, keep = split_cancel(mine, set(live) - mine, pending_dependencies())
    if cancel:
        subprocess.run(["scancel", *cancel], check=True)
    print(f"cancelled {len(cancel)} job(s): {' '.join(cancel) or '-'}")
    for job, needers in sorted(keep.items()):
        by = ", ".join(f"{n} ({live[n].sweep}: {live[n].label})" for n in needers[:4])
        more = f" and {len(needers) - 4} more" if len(needers) > 4 else ""
        print(f"kept {job} ({live[job].label}): other sweeps' jobs wait on it: {by}{more}")


def cmd_sync(sweep_file: Path, args: list[str]) -> None:
    """Upload the sweep's offline W&B runs (every attempt, once) from a node that reaches W&B."""
    from saerl.launch.sweep import read_sweep
    from saerl.launch.wandb_sync import sync_runs

    overrides, _, _ = cluster_args(args)
    sweep = read_sweep(sweep_file, overrides)
    cfg = sweep.configs[0]
    for line in sync_runs(Path(cfg.runs_dir) / cfg.name, project=cfg.rl.wandb_project):
        print(line)


SWEEP_COMMANDS: dict[str, Callable[[Path, list[str]], None]] = {
    "sweep": cmd_sweep,
    "status": cmd_status,
    "cancel": cmd_cancel,
    "sync": cmd_sync,
}
