"""`saerl sync <sweep>`: upload a sweep's offline W&B runs, from a node that reaches W&B.

Many clusters give compute nodes no internet: there, runs log W&B offline (``rl.wandb=offline``)
into ``<run>/wandb/offline-run-<time>-<id>/``, one folder per attempt of the run (a requeued or
resumed run keeps its W&B id, so its attempts are one W&B run). This command finds every such
folder of the sweep's runs and hands the ones not yet uploaded to ``wandb sync``, one run at a time
with its attempts in the order they started (which is how wandb replays a resumed run). wandb marks
each uploaded file with ``<file>.synced``, so a second call uploads nothing new, and a later
attempt (a run requeued after the first sync) is uploaded alone, into the same W&B run.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

SYNCED = ".synced"
"""The marker wandb sync writes beside each uploaded ``.wandb`` file (``<file>.wandb.synced``)."""


class RunFiles(NamedTuple):
    run: Path
    """The run folder."""
    run_id: str
    files: list[Path]
    """Its offline W&B files, one per attempt, in the order the attempts started."""

    @property
    def pending(self) -> list[Path]:
        return [f for f in self.files if not f.with_name(f.name + SYNCED).exists()]


def offline_runs(runs_root: Path) -> list[RunFiles]:
    """Every run folder under ``runs_root`` with offline W&B files, by folder name."""
    out = []
    for run in sorted(p for p in runs_root.iterdir() if p.is_dir()) if runs_root.is_dir() else []:
        attempts = sorted(run.glob("wandb/offline-run-*"), key=lambda d: d.name)  # starts with the time
        files = [f for d in attempts for f in sorted(d.glob("run-*.wandb"))]
        if files:
            out.append(RunFiles(run, files[0].stem.removeprefix("run-"), files))
    return out


def wandb_sync_command(files: Sequence[Path], project: str = "", entity: str = "") -> list[str]:
    argv = [sys.executable, "-m", "wandb", "sync", "--skip-synced", "--yes"]
    argv += (["--project", project] if project else []) + (["--entity", entity] if entity else [])
    return argv + [str(f) for f in files]


def sync_runs(
    runs_root: Path,
    project: str = "",
    entity: str = "",
    runner: Callable[[list[str]], Any] | None = None,
) -> list[str]:
    """Upload what is not uploaded yet; returns one line per run saying what happened. ``runner``
    runs a command (default: subprocess.run, checked)."""
    run = runner or (lambda argv: subprocess.run(argv, check=True))
    runs = offline_runs(runs_root)
    if not runs:
        return [f"{runs_root}: no offline W&B runs (rl.wandb=offline writes them)"]
    lines = []
    for r in runs:
        todo = r.pending
        if not todo:
            lines.append(
                f"{r.run.name} (W&B run {r.run_id}): nothing new, {len(r.files)} attempt(s) uploaded before"
            )
            continue
        run(wandb_sync_command(todo, project, entity))
        left = [f for f in todo if not f.with_name(f.name + SYNCED).exists()]
        if left:
            raise RuntimeError(f"{r.run.name}: wandb sync did not mark {left[0]} as uploaded")
        lines.append(f"{r.run.name} (W&B run {r.run_id}): uploaded {len(todo)} attempt(s) of {len(r.files)}")
    return lines
