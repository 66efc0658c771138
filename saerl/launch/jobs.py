"""What a cluster job runs: one node of the stage graph, re-planned from the config it carries.

The job pickles only plain data (the resolved config as a dict, the sweep's varying keys and the
node's id), so it does not depend on the submitting process's objects; in the job, the graph is
planned again and the node (stage artifact or RL run) is materialised with the local executor.
Inputs were built by the jobs this one depends on (afterok); one that is missing is built here.
Preemption and time limits: submitit calls ``checkpoint`` and requeues the same job, which resumes
from the store (finished stages) or the run's last checkpoint (RL runs); a requeue by Slurm itself
(``scontrol requeue``, node failure) reruns the job the same way.
"""

from __future__ import annotations

import os
from typing import Any

import submitit

from saerl.config import SaerlConfig
from saerl.configlib import load_config
from saerl.launch.graph import Node, StageGraph, topological

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def use_allocated_cpus(environ: dict[str, str] | None = None) -> int | None:
    """Torch and BLAS threads = the CPUs Slurm gave this task (SLURM_CPUS_PER_TASK), so a job
    asking for one CPU does not run a thread per core of the node and slow its neighbours down
    (measured: four 1-CPU jobs on 2 cores, 2-3x slower per step). Variables the user set win.
    Returns the thread count set, or None outside an allocation."""
    env = os.environ if environ is None else environ
    cpus = env.get("SLURM_CPUS_PER_TASK", "")
    if not cpus.isdigit() or int(cpus) < 1:
        return None
    n = int(cpus)
    for var in THREAD_VARS:
        env.setdefault(var, str(n))
    import sys

    if "torch" in sys.modules:  # imported already: its pool is sized, resize it
        sys.modules["torch"].set_num_threads(int(env["OMP_NUM_THREADS"]))
    return n


def find_node(graph: StageGraph, stage: str, key: str) -> Node:
    for node in topological([graph.run]):
        if node.id == (stage, key):
            return node
    raise LookupError(f"node {stage}/{key} is not in the plan of run {graph.run.params['name']}")


class NodeJob(submitit.helpers.Checkpointable):
    def __init__(
        self,
        config: dict[str, Any],
        varying: tuple[str, ...],
        stage: str,
        key: str,
        label: str,
        openrlhf_env: str = "",
    ):
        self.config = config
        self.varying = varying
        self.stage = stage
        self.key = key
        self.label = label
        self.openrlhf_env = openrlhf_env
        """The cluster profile's OpenRLHF environment (rl.backend=openrlhf runs)."""

    def __call__(self) -> str:
        from saerl.launch.local import LocalExecutor
        from saerl.store import ArtifactStore

        in_job = "SUBMITIT_EXECUTOR" in os.environ
        if in_job:
            # sbatch exports the submitter's environment: a W&B service token from it would make
            # this job (and its requeued restarts) log through the submitting process's W&B
            # service, which keeps a killed attempt's run open ("run ID ... is in use"). Each job
            # runs its own; called in-process, the caller's environment is left alone.
            os.environ.pop("WANDB_SERVICE", None)
            use_allocated_cpus()
        env = submitit.JobEnvironment() if in_job else None
        cfg: SaerlConfig = load_config(SaerlConfig, base=self.config)
        if self.stage == "run" and cfg.rl.backend == "openrlhf":
            return self._openrlhf_run(cfg, env)
        if env is not None and env.num_tasks > 1 and env.global_rank > 0:
            return f"rank {env.global_rank}: nothing to do for {self.label}"  # one process builds
        node = find_node(StageGraph(cfg, self.varying), self.stage, self.key)
        out = LocalExecutor(ArtifactStore(cfg.store_dir), cfg.device).materialize(node)
        return str(getattr(out, "path", out))

    def _openrlhf_run(self, cfg: SaerlConfig, env: Any) -> str:
        """Every task of the multi-node job: rank 0 trains through Ray, the others are Ray nodes."""
        from pathlib import Path

        from saerl.launch.local import LocalExecutor
        from saerl.rl.openrlhf import run as openrlhf_run
        from saerl.rl.openrlhf.ray_cluster import RayTask
        from saerl.store import ArtifactStore

        if env is None:
            raise RuntimeError(
                f"{self.label}: rl.backend=openrlhf runs as a multi-node Slurm job (make sweep with a "
                "Slurm profile); it cannot run in this process"
            )
        node = find_node(StageGraph(cfg, self.varying), self.stage, self.key)
        run_dir = Path(cfg.runs_dir) / cfg.name / node.params["name"]
        task = RayTask.from_submitit(run_dir / openrlhf_run.FOLDER / "ray")
        inputs = None
        if task.rank == 0:  # built by the jobs this one depends on (afterok): looked up, not rebuilt
            ex = LocalExecutor(ArtifactStore(cfg.store_dir), cfg.device)
            inputs = {role: ex.materialize(n) for role, n in node.inputs.items()}
        return openrlhf_run.execute(node.params, inputs, task, self.openrlhf_env)

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """submitit's handler of the preemption / time-limit signal: the job is requeued as is (it
        resumes from the store or the run's checkpoints). Mark it, so the SystemExit submitit
        raises next reads as a requeue, not a failure (saerl.rl.run.requeue_requested)."""
        from saerl.rl.run import REQUEUE_ENV

        os.environ[REQUEUE_ENV] = "1"
        return super().checkpoint(*args, **kwargs)

    def __repr__(self) -> str:
        return f"NodeJob({self.label})"
