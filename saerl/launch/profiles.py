"""Cluster profiles: what a Slurm cluster offers and what each kind of stage asks of it.

A profile is a YAML file (``slurm/<name>.yaml``) loaded with the same checked loader as every
config: unknown keys fail naming the key, and requests the cluster cannot satisfy (more GPUs per
node than its nodes have, more nodes than the partition, a time over the partition's limit) fail
here, before anything is submitted. ``executor: local | debug`` profiles run the same graph on one
machine through submitit's local (subprocesses) or debug (in-process) executors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from saerl.configlib import ConfigError, load_config

KINDS = ("cpu", "gpu", "multi_gpu")


@dataclass(frozen=True)
class Request:
    """The resources one job of a stage kind asks for."""

    nodes: int = 1
    """Nodes per job (multi-node RL runs: > 1)."""
    gpus_per_node: int = 0
    """GPUs per node (0: none)."""
    cpus_per_task: int = 1
    """CPUs for the job's one task per node."""
    mem_gb: float = 4.0
    """Memory per node, GB."""
    time_min: int = 60
    """Time limit; a job that reaches it is requeued by submitit (checkpoint) up to max_requeues."""
    estimate_min: int = 0
    """Expected wall minutes of one job (for the plan's GPU-hours); 0: time_min."""

    def __post_init__(self) -> None:
        for name in ("nodes", "cpus_per_task", "time_min"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if self.gpus_per_node < 0 or self.mem_gb <= 0 or self.estimate_min < 0:
            raise ValueError("gpus_per_node and estimate_min must be >= 0, mem_gb > 0")

    @property
    def gpu_hours(self) -> float:
        return self.nodes * self.gpus_per_node * (self.estimate_min or self.time_min) / 60


def _cpu() -> Request:
    return Request(cpus_per_task=2, mem_gb=8, time_min=60)


def _gpu() -> Request:
    return Request(gpus_per_node=1, cpus_per_task=8, mem_gb=64, time_min=240)


def _multi_gpu() -> Request:
    return Request(nodes=2, gpus_per_node=8, cpus_per_task=64, mem_gb=512, time_min=1440)


@dataclass(frozen=True)
class ClusterProfile:
    """One cluster (or one machine) and the request of each stage kind on it."""

    executor: Literal["slurm", "local", "debug"] = "slurm"
    """'slurm' submits with sbatch; 'local' runs jobs as subprocesses here; 'debug' in this process."""
    partition: str = ""
    """Slurm partition ('' : the cluster's default)."""
    account: str = ""
    """Slurm account, if the cluster charges one."""
    qos: str = ""
    """Slurm quality of service."""
    constraint: str = ""
    """Slurm node constraint (e.g. 'h100')."""
    max_nodes: int = 2
    """Nodes available to one job in the partition."""
    gpus_per_node: int = 8
    """GPUs each node has."""
    cpus_per_node: int = 0
    """CPUs each node has (0: not checked)."""
    mem_gb_per_node: float = 0
    """Memory each node has, GB (0: not checked)."""
    max_time_min: int = 0
    """The partition's time limit (0: not checked)."""
    cpu: Request = field(default_factory=_cpu)
    """Jobs of CPU stages (data, tokenizer, signals, curriculum)."""
    gpu: Request = field(default_factory=_gpu)
    """Jobs of one-accelerator stages (model SFT, activations, SAE, features, labels, RL runs)."""
    multi_gpu: Request = field(default_factory=_multi_gpu)
    """Multi-node RL jobs (the OpenRLHF backend)."""
    sbatch: dict[str, str] = field(default_factory=dict)
    """Extra sbatch options, e.g. {'mail-type': 'FAIL'} (rendered as #SBATCH --key=value)."""
    setup: tuple[str, ...] = ()
    """Shell lines run in the job before saerl starts (module load, venv activation)."""
    python: str = ""
    """The python that runs saerl in the job ('': the one submitting, which must be visible there)."""
    openrlhf_env: str = ""
    """The OpenRLHF environment's prefix (its bin/python runs the driver, its bin/ray the Ray nodes)
    for rl.backend=openrlhf runs ('': the environment of the job's python)."""
    log_dir: str = "slurm-logs"
    """Job scripts and logs (relative: under the sweep's runs folder)."""
    max_requeues: int = 3
    """Times submitit requeues a job that hit its time limit or was preempted."""
    signal_delay_s: int = 120
    """Seconds before the time limit at which the job is told to checkpoint and requeue."""
    array_parallelism: int = 64
    """Tasks of one job array running at once."""
    cpu_bind: str = ""
    """srun's --cpu-bind for every job ('cores' pins each task to its allocated cores; '' leaves
    it to the cluster: binding needs Slurm's task/affinity or task/cgroup plugin)."""

    def __post_init__(self) -> None:
        if self.max_nodes < 1 or self.gpus_per_node < 0 or self.max_requeues < 0:
            raise ValueError("max_nodes must be >= 1, gpus_per_node and max_requeues >= 0")
        for kind in KINDS:
            check_request(self, kind, getattr(self, kind))

    def request(self, kind: str) -> Request:
        if kind not in KINDS:
            raise ValueError(f"unknown resource kind {kind!r}; expected one of {list(KINDS)}")
        req: Request = getattr(self, kind)
        return req


def check_request(profile: ClusterProfile, kind: str, req: Request) -> None:
    """Reject what the cluster can never run, naming the key."""
    if req.nodes > profile.max_nodes:
        raise ValueError(f"{kind}.nodes={req.nodes} exceeds max_nodes={profile.max_nodes}")
    if req.gpus_per_node > profile.gpus_per_node:
        raise ValueError(
            f"{kind}.gpus_per_node={req.gpus_per_node} exceeds the nodes' "
            f"gpus_per_node={profile.gpus_per_node}"
        )
    if profile.cpus_per_node and req.cpus_per_task > profile.cpus_per_node:
        raise ValueError(
            f"{kind}.cpus_per_task={req.cpus_per_task} exceeds cpus_per_node={profile.cpus_per_node}"
        )
    if profile.mem_gb_per_node and req.mem_gb > profile.mem_gb_per_node:
        raise ValueError(f"{kind}.mem_gb={req.mem_gb} exceeds mem_gb_per_node={profile.mem_gb_per_node}")
    if profile.max_time_min and req.time_min > profile.max_time_min:
        raise ValueError(
            f"{kind}.time_min={req.time_min} exceeds the partition's max_time_min={profile.max_time_min}"
        )


def nodes_of(partition: str) -> list[dict[str, object]] | None:
    """What Slurm says the partition's nodes have (sinfo): name, cpus, memory MB, GPUs; None when
    no Slurm answers here (a dry run on a laptop)."""
    import re
    import shutil
    import subprocess

    if shutil.which("sinfo") is None:
        return None
    cmd = ["sinfo", "-h", "-N", "-o", "%N|%c|%m|%G"] + (["-p", partition] if partition else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=30)
    if out.returncode != 0:
        return None
    nodes = []
    for line in out.stdout.splitlines():
        name, cpus, mem, gres = [*line.split("|"), "", "", "", ""][:4]
        if not cpus.strip().isdigit() or not mem.strip().rstrip("+").isdigit():
            continue
        gpus = sum(int(n) for n in re.findall(r"gpu(?::[^:,(]+)?:(\d+)", gres))
        nodes.append({"name": name, "cpus": int(cpus), "mem_mb": int(mem.rstrip("+")), "gpus": gpus})
    return nodes


def check_against_cluster(profile: ClusterProfile, name: str, nodes: list[dict[str, object]]) -> None:
    """A profile that claims more than the partition's smallest node has is named: its requests
    would pass this file's checks and then be refused by sbatch (or pend forever). No nodes: the
    Slurm that answers here is not this profile's cluster (a dry run for another one): no check."""
    if not nodes:
        return
    least = {k: min(int(n[k]) for n in nodes) for k in ("cpus", "mem_mb", "gpus")}  # type: ignore[call-overload]
    where = f"the nodes of partition {profile.partition or '(default)'} (sinfo)"
    if profile.cpus_per_node and profile.cpus_per_node > least["cpus"]:
        raise ConfigError(
            f"cluster profile {name}: cpus_per_node={profile.cpus_per_node} but {where} have {least['cpus']}"
        )
    if profile.mem_gb_per_node and profile.mem_gb_per_node * 1024 > least["mem_mb"]:
        raise ConfigError(
            f"cluster profile {name}: mem_gb_per_node={profile.mem_gb_per_node:g} "
            f"({profile.mem_gb_per_node * 1024:.0f} MB) but {where} have {least['mem_mb']} MB "
            f"(at most {least['mem_mb'] / 1024:.2f} GB)"
        )
    needs_gpus = any(getattr(profile, k).gpus_per_node for k in KINDS)
    if needs_gpus and profile.gpus_per_node > least["gpus"]:
        raise ConfigError(
            f"cluster profile {name}: gpus_per_node={profile.gpus_per_node} but {where} have {least['gpus']}"
        )


PROFILE_DIR = Path(__file__).resolve().parents[2] / "slurm"


def load_profile(name: str, overrides: list[str] | None = None) -> ClusterProfile:
    """``name``: a profile file, or the stem of one in the repository's slurm/ folder."""
    path = Path(name)
    if not path.is_file():
        path = PROFILE_DIR / f"{name}.yaml"
    if not path.is_file():
        have = sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))
        raise ConfigError(f"cluster profile {name!r}: no such file; profiles in slurm/: {have}")
    return load_config(ClusterProfile, path, overrides or [])
