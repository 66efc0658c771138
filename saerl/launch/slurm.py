"""`make sweep`: a planned sweep submitted as Slurm jobs with submitit.

- One job per stage node that is neither built nor queued (shared nodes once: one SAE for a whole
  sweep); RL runs as job arrays, one array per set of dependencies; `afterok` dependencies between
  them and `--kill-on-invalid-dep=yes`, so a failed stage cancels its dependents instead of leaving
  them pending forever.
- A submission record (``<store>/submissions.jsonl``: sweep, stage, key, node, job id, array index)
  plus the live job states (squeue, sacct) make a second `make sweep` submit nothing that is built,
  done, pending or running; only failed or never-submitted nodes go out again.
- ``sbatch_parameters`` is a pure function of the profile and the node: the dry run renders the very
  scripts that would be submitted (golden-tested), without Slurm.
- ``executor: local | debug`` profiles run the same jobs on this machine, in dependency order.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from saerl.config import SaerlConfig, to_dict
from saerl.launch.checks import check_models, check_openrlhf_runs
from saerl.launch.graph import Node, Plan, StageGraph
from saerl.launch.plan import node_request, node_state
from saerl.launch.profiles import ClusterProfile, Request
from saerl.launch.submissions import (
    ACTIVE,
    Submission,
    SubmissionRecord,
    job_states,
)
from saerl.launch.sweep import Sweep, check_distinct, sweep_graphs


def sbatch_parameters(
    profile: ClusterProfile, node: Node, dependencies: Sequence[str] = (), job_name: str = ""
) -> dict[str, Any]:
    """submitit SlurmExecutor parameters for one node's job (pure: golden-tested)."""
    params = request_parameters(profile, node_request(profile, node), job_name or f"saerl-{node.stage}")
    params["signal_delay_s"] = profile.signal_delay_s
    params["array_parallelism"] = profile.array_parallelism
    params["additional_parameters"] = {**profile.sbatch, "kill-on-invalid-dep": "yes", "requeue": True}
    if dependencies:
        params["dependency"] = "afterok:" + ":".join(dependencies)
    return params


def request_parameters(profile: ClusterProfile, req: Request, job_name: str) -> dict[str, Any]:
    """submitit parameters of one request on this cluster: nodes (one task each), CPUs, memory,
    time, GPUs, and the profile's partition, account, qos, constraint and setup lines."""
    params: dict[str, Any] = {
        "job_name": job_name,
        "nodes": req.nodes,
        "ntasks_per_node": 1,
        "cpus_per_task": req.cpus_per_task,
        "mem": f"{int(req.mem_gb * 1024)}MB",
        "time": req.time_min,
    }
    if req.gpus_per_node:
        params["gpus_per_node"] = req.gpus_per_node
    for name in ("partition", "account", "qos", "constraint"):
        if getattr(profile, name):
            params[name] = getattr(profile, name)
    if profile.setup:
        params["setup"] = list(profile.setup)
    if profile.cpu_bind:
        params["srun_args"] = [f"--cpu-bind={profile.cpu_bind}"]
    return params


@dataclass
class SweepPlan:
    """A sweep's graphs with absolute paths (jobs run elsewhere) and its plan."""

    name: str
    graphs: list[StageGraph]
    plan: Plan

    @classmethod
    def of(cls, sweep: Sweep) -> SweepPlan:
        graphs = [StageGraph(absolute_paths(g.cfg), g.varying) for g in sweep_graphs(sweep)]
        check_distinct(graphs)
        return cls(sweep.name, graphs, Plan.of([g.run for g in graphs]))

    @property
    def store_root(self) -> Path:
        return Path(self.graphs[0].cfg.store_dir)

    @property
    def log_dir(self) -> Path:
        cfg = self.graphs[0].cfg
        return Path(cfg.runs_dir) / cfg.name / "slurm-logs"

    def config_of(self, node: Node) -> StageGraph:
        """A graph that contains ``node`` (the first run that needs it)."""
        for g in self.graphs:
            if node.id in {n.id for n in _ancestors(g.run)}:
                return g
        raise LookupError(node.label)


def absolute_paths(cfg: SaerlConfig) -> SaerlConfig:
    """The config with store, runs and reports folders made absolute (they are not run identity)."""
    return dataclasses.replace(
        cfg,
        store_dir=str(Path(cfg.store_dir).resolve()),
        runs_dir=str(Path(cfg.runs_dir).resolve()),
        reports_dir=str(Path(cfg.reports_dir).resolve()),
    )


def _ancestors(node: Node) -> list[Node]:
    from saerl.launch.graph import topological

    return topological([node])


@dataclass
class Decision:
    node: Node
    action: str  # built | done | queued | submit | submitted | dry-run
    job_id: str = ""
    detail: str = ""


def decide(sp: SweepPlan) -> list[Decision]:
    """What each node of the plan needs: nothing (built, done, already queued) or a job."""
    latest = SubmissionRecord(sp.store_root).latest()
    states = job_states(s.job_id for s in latest.values())
    out = []
    for node in sp.plan.nodes:
        if node.external:
            continue
        state = node_state(node, sp.store_root)
        if state in ("built", "done"):
            out.append(Decision(node, state))
            continue
        prev = latest.get(node.id)
        if prev is not None and states.get(prev.job_id) in ACTIVE:
            out.append(Decision(node, "queued", prev.job_id, states[prev.job_id]))
            continue
        detail = f"previous job {prev.job_id} {states.get(prev.job_id, 'UNKNOWN')}" if prev else ""
        out.append(Decision(node, "submit", detail=detail))
    return out


def dependencies_of(node: Node, jobs: dict[tuple[str, str], str]) -> list[str]:
    """Job ids of the node's not-yet-built inputs (their own jobs, submitted or queued)."""
    return sorted({jobs[i.id] for i in node.inputs.values() if i.id in jobs})


class SubmitError(ValueError):
    """Slurm refused a job; names the node and gives sbatch's own message."""


def submit_sweep(sp: SweepPlan, profile: ClusterProfile, dry_run: bool = False) -> list[Decision]:
    """Submit every node that needs a job; returns the decision per node (with job ids). Each
    submission is recorded as soon as sbatch accepts it, so a refusal later loses nothing."""
    decisions = decide(sp)
    jobs = {d.node.id: d.job_id for d in decisions if d.action == "queued"}
    todo = [d for d in decisions if d.action == "submit"]
    check_models([d.node for d in todo])
    check_openrlhf_runs([d.node for d in todo])
    if profile.executor != "slurm":
        if dry_run:  # a dry run writes sbatch scripts; a local profile has none, and runs nothing
            raise SubmitError(
                f"DRY_RUN=1: the profile's executor is {profile.executor!r}, which submits no sbatch "
                "script to write; nothing was run (use a Slurm profile, or leave DRY_RUN out to run here)"
            )
        _run_here(sp, profile, todo)
        return decisions
    log_dir = sp.log_dir.resolve()
    log_dir.mkdir(parents=True, exist_ok=True)
    submitter = _DryRun(log_dir) if dry_run else _Submitter(log_dir, profile)
    record = SubmissionRecord(sp.store_root)

    def send(ds: list[Decision], deps: Sequence[str], name: str, what: str) -> None:
        params = sbatch_parameters(profile, ds[0].node, deps, name)
        python = node_python(profile, ds[0].node)
        ids = submitter.submit([_job(sp, d.node, profile) for d in ds], params, what, python)
        for d, job_id in zip(ds, ids, strict=True):
            d.job_id, d.action = job_id, "dry-run" if dry_run else "submitted"
            jobs[d.node.id] = job_id
        if not dry_run:
            record.append(_submission(sp.name, d, log_dir) for d in ds)

    for d in (d for d in todo if d.node.stage != "run"):
        send([d], dependencies_of(d.node, jobs), f"saerl-{d.node.stage}", d.node.label)
    groups: dict[tuple[str, ...], list[Decision]] = {}
    for d in (d for d in todo if d.node.stage == "run"):
        groups.setdefault(tuple(dependencies_of(d.node, jobs)), []).append(d)
    for dep_ids, ds in groups.items():
        send(ds, dep_ids, f"saerl-run-{sp.name}", f"runs of {sp.name}")
    return decisions


def needs_vllm(node: Node) -> bool:
    """Stage nodes that generate with vLLM: rollout labels (signals.difficulty.backend=vllm) and the
    step-0 evaluation (rl.eval_backend=vllm)."""
    return (node.stage == "labels" and node.params.get("backend") == "vllm") or (
        node.stage == "eval0" and node.params.get("eval_backend") == "vllm"
    )


def node_python(profile: ClusterProfile, node: Node) -> str:
    """The python a node's job runs: the profile's, except for stages that generate with vLLM,
    which saerl's environment does not have: they run in the OpenRLHF environment (openrlhf_env),
    where saerl is installed without its pins (slurm/openrlhf-env.sh)."""
    if needs_vllm(node) and profile.openrlhf_env:
        from saerl.rl.openrlhf.run import environment

        return environment(profile.openrlhf_env)[0]
    return profile.python


def _submission(sweep: str, d: Decision, log_dir: Path) -> Submission:
    index = int(d.job_id.split("_")[1]) if "_" in d.job_id else None
    return Submission(
        sweep, d.node.stage, d.node.key, d.node.label, d.job_id, index, str(log_dir), time.time()
    )


def _job(sp: SweepPlan, node: Node, profile: ClusterProfile | None = None) -> Any:
    from saerl.launch.jobs import NodeJob

    g = sp.config_of(node)
    env = profile.openrlhf_env if profile is not None else ""
    return NodeJob(to_dict(g.cfg), g.varying, node.stage, node.key, node.label, env)


class _Submitter:
    def __init__(self, log_dir: Path, profile: ClusterProfile) -> None:
        self.log_dir, self.profile = log_dir, profile
        self.executors: dict[str, Any] = {}

    def executor(self, python: str) -> Any:
        import submitit

        if python not in self.executors:
            self.executors[python] = submitit.SlurmExecutor(
                folder=self.log_dir, max_num_timeout=self.profile.max_requeues, python=python or None
            )
        return self.executors[python]

    def submit(self, jobs: list[Any], params: dict[str, Any], what: str, python: str = "") -> list[str]:
        from submitit.core.utils import FailedJobError

        executor = self.executor(python)
        executor.update_parameters(**params)
        try:
            if len(jobs) == 1:
                return [executor.submit(jobs[0]).job_id]
            with executor.batch():
                handles = [executor.submit(j) for j in jobs]
        except FailedJobError as exc:
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "no message"
            raise SubmitError(
                f"Slurm refused the job for {what} ({params.get('time')} min, "
                f"{params.get('cpus_per_task')} CPUs, {params.get('mem')}, "
                f"{params.get('gpus_per_node', 0)} GPUs per node): {reason}. Jobs submitted before it "
                "are recorded; fix the cluster profile and run `make sweep` again."
            ) from None
        return [h.job_id for h in handles]


class _DryRun:
    """Writes the sbatch scripts that would be submitted (placeholder job ids), submits nothing."""

    def __init__(self, log_dir: Path) -> None:
        self.folder = log_dir / "dry-run"
        if self.folder.exists():  # a fresh folder: no script of an earlier dry run is left to mislead
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True)
        self.n = 0

    def submit(self, jobs: list[Any], params: dict[str, Any], what: str, python: str = "") -> list[str]:
        import sys

        self.n += 1
        # submitit runs the submitting interpreter when the profile names none: show that one.
        script = render_sbatch(params, self.folder.parent, len(jobs), python or sys.executable)
        names = [str(job.label).removeprefix("run ") for job in jobs]
        if len(jobs) > 1:
            listing = "".join(f"# array task {i}: {n}\n" for i, n in enumerate(names))
            script = script.replace("\n", f"\n# runs of this array (SLURM_ARRAY_TASK_ID: run)\n{listing}", 1)
            what = array_name(names)
        name = f"{self.n:02d}-{what.replace(' ', '-').replace('/', '-')}.sbatch"
        (self.folder / name).write_text(script)
        for job in jobs:  # what rank 0 of each OpenRLHF run job would run
            if (command := openrlhf_script(job)) is not None:
                (self.folder / f"{job.label.removeprefix('run ')}.openrlhf.sh").write_text(command)
        base = f"DRY{self.n}"
        return [base] if len(jobs) == 1 else [f"{base}_{i}" for i in range(len(jobs))]


def openrlhf_script(job: Any) -> str | None:
    """The OpenRLHF command script of a run job (None for other jobs), from the plan alone."""
    from saerl.configlib import load_config
    from saerl.launch.jobs import find_node
    from saerl.rl.openrlhf import run as openrlhf_run
    from saerl.rl.run import wandb_id
    from saerl.store import ArtifactStore

    if job.stage != "run" or job.config["rl"]["backend"] != "openrlhf":
        return None
    cfg = load_config(SaerlConfig, base=job.config)
    node = find_node(StageGraph(cfg, job.varying), job.stage, job.key)
    target = node.inputs["target"]
    target_path = target.external or str(ArtifactStore(cfg.store_dir).path(target.stage, target.key))
    spec = openrlhf_run.launch_spec(
        node.params, target_path, wandb_id(node.params["config"], node.params["name"])
    )
    python, _ = openrlhf_run.environment(job.openrlhf_env)
    return spec.script(python)


def array_name(runs: Sequence[str]) -> str:
    """A file name for a job array of runs: 'runs-<first run>..<what changes in the last>', run
    names without their identity hashes ('runs-llama-s-saerl-s0..s2')."""
    bare = [r.rsplit("-", 1)[0] if "-" in r else r for r in runs]
    first, last = bare[0], bare[-1]
    same = 0  # the dash-separated parts the two names share
    for a, b in zip(first.split("-"), last.split("-"), strict=False):
        if a != b:
            break
        same += 1
    tail = "-".join(last.split("-")[same:])
    return f"runs-{first}" + (f"..{tail}" if tail else "")


def render_sbatch(params: dict[str, Any], log_dir: Path, n_jobs: int = 1, python: str = "python") -> str:
    """The sbatch script submitit writes for these parameters (its own renderer)."""
    from submitit.slurm.slurm import _make_sbatch_string

    command = f"{python} -u -m submitit.core._submit {log_dir}"
    extra: dict[str, Any] = {"map_count": n_jobs} if n_jobs > 1 else {}
    return str(_make_sbatch_string(command=command, folder=log_dir, **params, **extra))


def _run_here(sp: SweepPlan, profile: ClusterProfile, todo: list[Decision]) -> None:
    """local/debug profiles: the same jobs through submitit on this machine, in dependency order."""
    import submitit

    ex = submitit.AutoExecutor(folder=sp.log_dir.resolve(), cluster=profile.executor)
    for d in todo:  # plan order: inputs first
        req = profile.request(d.node.resource)
        ex.update_parameters(timeout_min=req.time_min)
        job = ex.submit(_job(sp, d.node, profile))
        d.job_id = str(job.job_id)
        job.result()  # raises with the job's error
        d.action = "submitted"
