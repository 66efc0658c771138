"""A Ray cluster inside one multi-node Slurm job (one submitit task per node).

Every task calls :func:`run_ray_job`. Rank 0 starts the Ray head on its node and writes its address
to a rendezvous folder on the shared filesystem; the other ranks wait for that address and join.
Rank 0 then runs the driver (a command: OpenRLHF's entry point through ``saerl.rl.openrlhf.driver``,
which waits until every node has joined), and when it returns writes ``done.json``; every rank stops
its own Ray node (the ``ray start --block`` process it started, never ``ray stop``, which would kill
every Ray process of the machine) and returns, so each task of the job ends.

Errors: a rank that fails writes ``error-<rank>.json`` and raises; rank 0 watches for those files
while it waits and while the driver runs, stops the driver and raises that rank's error, so the job
fails with it; the other ranks see rank 0's ``done.json`` carry the error and raise it too. A rank
whose Ray node dies (e.g. the head went away) fails the same way. A requeued job (Slurm's
``SLURM_RESTART_COUNT``) uses a fresh rendezvous folder.

Ray and the driver run in the OpenRLHF environment (``ray_bin``, ``driver``), which need not be the
environment running saerl: this module imports neither Ray nor OpenRLHF.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from saerl.store import atomic_write_text

HEAD_PORT_BASE = 20000
"""Head (GCS) ports are 20000 + (7 x job id + attempt) mod 10000: above Ray's default worker ports
(10002-19999), different for jobs sharing a node and for a requeued job's attempts."""


class RayClusterError(RuntimeError):
    """A rank of the job failed; the message names the rank, its host and its error."""


@dataclass(frozen=True)
class RayTask:
    """Where this task sits in the job."""

    rank: int
    world: int
    node: str
    """This task's Slurm node name (resolved to the address Ray binds to)."""
    job_id: str
    rendezvous: Path
    """A folder on the shared filesystem, fresh for each attempt of the job."""
    attempt: int = 0
    """Slurm's restart count (a requeued job's processes of the last attempt may still hold ports)."""

    @classmethod
    def from_submitit(cls, base: Path) -> RayTask:
        import submitit

        env = submitit.JobEnvironment()
        attempt = os.environ.get("SLURM_RESTART_COUNT", "0")
        node = os.environ.get("SLURMD_NODENAME") or env.hostname
        folder = Path(base) / f"ray-{env.job_id}-attempt{attempt}"
        return cls(env.global_rank, env.num_tasks, node, str(env.job_id), folder, int(attempt))


@dataclass(frozen=True)
class RayNodeOptions:
    ray_bin: str = "ray"
    """The `ray` executable of the environment the driver runs in (same Ray version)."""
    num_cpus: int | None = None
    """CPUs Ray may schedule on each node (None: Slurm's SLURM_CPUS_ON_NODE, else Ray's count)."""
    num_gpus: int | None = None
    """GPUs per node (None: Ray counts the visible ones)."""
    head_port: int | None = None
    """None: 20000 + job id mod 10000."""
    join_timeout_s: float = 600
    """How long a rank waits for the head's address (the driver waits for the nodes itself)."""
    poll_s: float = 1.0
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment for Ray and the driver."""


def node_address(node: str) -> str:
    try:
        return socket.gethostbyname(node)
    except OSError as exc:
        raise RayClusterError(f"node {node}: cannot resolve its address ({exc})") from None


def head_port(job_id: str, opts: RayNodeOptions, attempt: int = 0) -> int:
    if opts.head_port:
        return opts.head_port
    digits = "".join(c for c in job_id.split("_")[0] if c.isdigit()) or "0"
    return HEAD_PORT_BASE + (int(digits) * 7 + attempt) % 10000


def _cpus(opts: RayNodeOptions) -> list[str]:
    cpus = opts.num_cpus if opts.num_cpus is not None else os.environ.get("SLURM_CPUS_ON_NODE")
    out = [f"--num-cpus={cpus}"] if cpus is not None else []
    if opts.num_gpus is not None:
        out.append(f"--num-gpus={opts.num_gpus}")
    return out


def _start(argv: list[str], log: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as fh:
        return subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, env={**os.environ, **env})


def _stop(proc: subprocess.Popen[bytes] | None, grace_s: float = 30) -> None:
    """Stop a process we started (SIGTERM: `ray start --block` then stops its own node's processes)."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class _Rendezvous:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def write(self, name: str, payload: dict[str, Any]) -> None:
        atomic_write_text(self.folder / name, json.dumps(payload))

    def read(self, name: str) -> dict[str, Any] | None:
        path = self.folder / name
        if not path.exists():
            return None
        data: dict[str, Any] = json.loads(path.read_text())
        return data

    def errors(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in sorted(self.folder.glob("error-*.json"))]


def run_ray_job(
    task: RayTask,
    driver: Sequence[str],
    opts: RayNodeOptions | None = None,
    on_worker_joined: Callable[[RayTask], None] | None = None,
) -> str:
    """This task's part of the job (see the module docstring); returns a one-line summary."""
    opts = opts or RayNodeOptions()
    rdv = _Rendezvous(task.rendezvous)
    try:
        if task.rank == 0:
            return _head(task, driver, opts, rdv)
        return _worker(task, opts, rdv, on_worker_joined)
    except BaseException as exc:
        if task.rank > 0:  # rank 0 reads it and fails the job with it
            error = str(exc) if isinstance(exc, RayClusterError) else f"{type(exc).__name__}: {exc}"
            rdv.write(f"error-{task.rank}.json", {"rank": task.rank, "node": task.node, "error": error})
        raise


def _head(task: RayTask, driver: Sequence[str], opts: RayNodeOptions, rdv: _Rendezvous) -> str:
    ip, port = node_address(task.node), head_port(task.job_id, opts, task.attempt)
    address = f"{ip}:{port}"
    log = rdv.folder / "ray-0.log"
    head = None
    try:
        head = _start(
            [
                *(opts.ray_bin, "start", "--block", "--head"),
                *(f"--node-ip-address={ip}", f"--port={port}"),
                *("--include-dashboard=false", "--disable-usage-stats"),
                *_cpus(opts),
            ],
            log,
            opts.env,
        )
        rdv.write("head.json", {"address": address, "node": task.node})
        env = {**opts.env, "RAY_ADDRESS": address, "SAERL_RAY_NODES": str(task.world)}
        driver_log = rdv.folder / "driver.log"
        proc = _start(list(driver), driver_log, env)
        try:
            while (rc := proc.poll()) is None:
                _raise_rank_errors(rdv)
                if head.poll() is not None:
                    raise RayClusterError(f"rank 0 ({task.node}): the Ray head exited:\n{_tail(log)}")
                time.sleep(opts.poll_s)
        finally:
            _stop(proc)
        _raise_rank_errors(rdv)
        if rc != 0:
            raise RayClusterError(f"rank 0 ({task.node}): the driver exited with {rc}:\n{_tail(driver_log)}")
        rdv.write("done.json", {"ok": True})
        return f"rank 0 ({task.node}): driver finished on {task.world} node(s)"
    except BaseException as exc:
        rdv.write("done.json", {"ok": False, "error": str(exc)})
        raise
    finally:
        _stop(head)


def release_workers(task: RayTask, reason: str = "nothing to run") -> None:
    """Rank 0 has no Ray work (e.g. the run is already done): let the other ranks return."""
    _Rendezvous(task.rendezvous).write("done.json", {"ok": True, "reason": reason})


def abort_workers(task: RayTask, error: str) -> None:
    """Rank 0 failed before Ray started (e.g. another job holds the run): the other ranks fail with
    its error now instead of waiting for a head that never comes."""
    _Rendezvous(task.rendezvous).write("done.json", {"ok": False, "error": error})


def _raise_rank_errors(rdv: _Rendezvous) -> None:
    for err in rdv.errors():
        raise RayClusterError(f"rank {err['rank']} ({err['node']}): {err['error']}")


def _worker(
    task: RayTask,
    opts: RayNodeOptions,
    rdv: _Rendezvous,
    on_joined: Callable[[RayTask], None] | None,
) -> str:
    deadline = time.time() + opts.join_timeout_s
    while (head := rdv.read("head.json")) is None:
        if (done := rdv.read("done.json")) is not None:
            if done.get("ok"):
                return (
                    f"rank {task.rank} ({task.node}): nothing to run ({done.get('reason', 'rank 0 is done')})"
                )
            raise RayClusterError(f"rank 0 ended before rank {task.rank} joined: {done.get('error')}")
        if time.time() > deadline:
            raise RayClusterError(f"no Ray head address in {rdv.folder} after {opts.join_timeout_s:.0f} s")
        time.sleep(opts.poll_s)
    ip = node_address(task.node)
    log = rdv.folder / f"ray-{task.rank}.log"
    node = _start(
        [
            *(opts.ray_bin, "start", "--block", f"--address={head['address']}"),
            *(f"--node-ip-address={ip}", "--disable-usage-stats"),
            *_cpus(opts),
        ],
        log,
        opts.env,
    )
    try:
        if on_joined is not None:
            on_joined(task)
        while (done := rdv.read("done.json")) is None:
            if node.poll() is not None:
                raise RayClusterError(f"its Ray node exited ({node.returncode}):\n{_tail(log)}")
            time.sleep(opts.poll_s)
    finally:
        _stop(node)
    if not done.get("ok"):
        raise RayClusterError(f"the job failed on rank 0: {done.get('error')}")
    return f"rank {task.rank} ({task.node}): joined {head['address']}, stopped"


class RayClusterJob:
    """A submitit callable: each task of a multi-node job runs its rank of :func:`run_ray_job`.

    Submit it with ``nodes=N, ntasks_per_node=1``; ``job.results()`` then holds one summary per rank,
    and the job fails with the first rank's error. Requeue (preemption, time limit) restarts every
    rank in a fresh rendezvous folder; the driver resumes from its own checkpoints.
    """

    def __init__(
        self,
        driver: Sequence[str],
        rendezvous_base: Path,
        opts: RayNodeOptions | None = None,
        on_worker_joined: Callable[[RayTask], None] | None = None,
    ) -> None:
        self.driver = list(driver)
        self.rendezvous_base = Path(rendezvous_base)
        self.opts = opts or RayNodeOptions()
        self.on_worker_joined = on_worker_joined

    def __call__(self) -> str:
        task = RayTask.from_submitit(self.rendezvous_base)
        return run_ray_job(task, self.driver, self.opts, self.on_worker_joined)

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        import submitit

        return submitit.helpers.DelayedSubmission(
            self.__class__(self.driver, self.rendezvous_base, self.opts, self.on_worker_joined)
        )
