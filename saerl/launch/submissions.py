"""What was submitted and what Slurm says about it: the append-only submission record under the
store (sweep, stage, key, node, job id, array index; the latest line per node wins), the live job
states (squeue, then sacct once a job has left the queue), and which of a sweep's jobs `saerl cancel`
may cancel without stranding another sweep's jobs that wait on them."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

ACTIVE = {
    *("PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD"),
    *("CONFIGURING", "COMPLETING", "RESIZING", "SUSPENDED"),
}
"""Slurm states of a job that will still run (or is running): its node is not submitted again."""
RECORD = "submissions.jsonl"


@dataclass(frozen=True)
class Submission:
    sweep: str
    stage: str
    key: str
    label: str
    job_id: str
    array_index: int | None
    log_dir: str
    submitted: float

    @property
    def node_id(self) -> tuple[str, str]:
        return (self.stage, self.key)

    @property
    def stderr(self) -> Path:
        return Path(self.log_dir) / f"{self.job_id}_0_log.err"


class SubmissionRecord:
    """Append-only JSONL of submissions under the store; the latest line per node wins."""

    def __init__(self, store_root: Path) -> None:
        self.path = Path(store_root) / RECORD

    def latest(self) -> dict[tuple[str, str], Submission]:
        if not self.path.exists():
            return {}
        out = {}
        for n, line in enumerate(self.path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                sub = Submission(**json.loads(line))
            except (json.JSONDecodeError, TypeError) as exc:
                raise ValueError(f"{self.path}:{n}: not a submission record ({exc})") from None
            out[sub.node_id] = sub
        return out

    def append(self, subs: Iterable[Submission]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = "".join(json.dumps(asdict(s)) + "\n" for s in subs)
        with self.path.open("a") as fh:  # one write per call: whole lines, appended atomically
            fh.write(text)


def job_states(job_ids: Iterable[str]) -> dict[str, str]:
    """Slurm state of each job id ('123' or array task '123_4'): squeue for live jobs, sacct after."""
    ids = sorted(set(job_ids))
    if not ids or shutil.which("squeue") is None:
        return {}
    out: dict[str, str] = {}
    live = subprocess.run(["squeue", "-h", "-r", "-o", "%i %T"], capture_output=True, text=True, check=False)
    for line in live.stdout.splitlines():
        jid, _, state = line.partition(" ")
        out[jid] = state.strip()
    bases = sorted({i.split("_")[0] for i in ids})
    acct = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-o", "JobID,State", "-j", ",".join(bases)],
        capture_output=True,
        text=True,
        check=False,
    )
    for line in acct.stdout.splitlines():
        jid, _, state = line.partition("|")
        out.setdefault(jid, state.split()[0] if state else "UNKNOWN")
    return {i: out.get(i, "UNKNOWN") for i in ids}


def pending_dependencies() -> dict[str, set[str]]:
    """Job id -> the job ids it still waits on (squeue's dependency column of pending jobs)."""
    import re

    if shutil.which("squeue") is None:
        return {}
    out = subprocess.run(["squeue", "-h", "-r", "-o", "%i|%E"], capture_output=True, text=True, check=False)
    deps: dict[str, set[str]] = {}
    for line in out.stdout.splitlines():
        jid, _, text = line.partition("|")
        found = set(re.findall(r"after\w*:(\d+(?:_\d+)?)", text))
        if found:
            deps[jid.strip()] = found
    return deps


def split_cancel(
    mine: Iterable[str], others: Iterable[str], deps: dict[str, set[str]]
) -> tuple[list[str], dict[str, list[str]]]:
    """(this sweep's live jobs to cancel, the ones to keep -> the other sweeps' jobs that wait on
    them, directly or through a chain of this sweep's jobs). A job array's tasks count as its base
    job's dependants too."""
    mine, others = set(mine), set(others)

    def waits_on(job: str) -> set[str]:
        found = set(deps.get(job, set()))
        return found | {d.split("_")[0] for d in found}

    keep: dict[str, list[str]] = {}
    for other in sorted(others):
        stack, seen = [(other, other)], set()
        while stack:
            job, needer = stack.pop()
            for dep in waits_on(job):
                ids = {dep} | {m for m in mine if m.split("_")[0] == dep}
                for m in ids & mine:
                    if m not in seen:
                        seen.add(m)
                        keep.setdefault(m, []).append(needer)
                        stack.append((m, needer))
    return sorted(mine - set(keep)), {k: sorted(set(v)) for k, v in keep.items()}
