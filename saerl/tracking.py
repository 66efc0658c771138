"""Run tracking: metrics.jsonl always; W&B (offline by default, online, or disabled) mirrors the
same rows. wandb is imported only when it is used; its key, if any, comes from the environment.

One run can take several attempts (a requeue, a preemption, a kill and a resubmit); each resumes
from the run's last checkpoint. So that metrics.jsonl and W&B hold the same history whatever
killed the attempt before:
- metrics.jsonl is trimmed, as an attempt starts, to the rows at or before the step it resumes
  from (later rows are trained again, and written again), and every row records its ``attempt``;
- W&B gets every kept row again at the start of each attempt (a killed attempt's W&B process may
  not have written its last rows), then the new ones. W&B's own step counter only grows (an online
  resumed run rejects lower steps), so rows carry the training ``step`` as a metric and W&B plots
  against it (``define_metric``); a reader keeps the last row per step, as the analysis does.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

METRICS = "metrics.jsonl"


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a metrics.jsonl; a torn last line (a kill mid-write) is dropped."""
    if not path.exists():
        return []
    lines = path.read_text(errors="replace").splitlines()
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if n == len(lines):
                break
            raise ValueError(f"{path}:{n}: not a metrics row") from None
    return rows


def trim_rows(path: Path, resume_step: int | None) -> list[dict[str, Any]]:
    """Keep the rows at or before ``resume_step`` (None: a fresh start keeps none); rewritten
    atomically when anything is dropped. Returns the kept rows."""
    rows = read_rows(path)
    kept = [r for r in rows if resume_step is not None and int(r.get("step", -1)) <= resume_step]
    if path.exists() and (len(kept) != len(rows) or path.read_text().count("\n") != len(rows)):
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
        os.replace(tmp, path)
    return kept


class Tracker:
    def __init__(
        self,
        run_dir: Path,
        config: dict[str, Any],
        mode: str = "offline",
        project: str = "saerl",
        group: str = "",
        name: str = "",
        run_id: str = "",
        attempt: int = 1,
        resume_step: int | None = None,
    ) -> None:
        """``run_id``: a stable W&B run id; a resumed or requeued run continues the same W&B run.
        ``attempt``: this attempt's number (1 for the first); ``resume_step``: the step its
        training resumes after (None: from the start)."""
        self.path = run_dir / METRICS
        self.attempt = attempt
        self.rows = trim_rows(self.path, resume_step)
        # wall_time goes on from where the kept rows stopped: a run's wall time spans its attempts
        self.start = time.time() - max((float(r.get("wall_time", 0)) for r in self.rows), default=0.0)
        self._run: Any = None
        if mode != "disabled":
            import wandb

            self._run = wandb.init(
                project=project,
                group=group or None,
                name=name or None,
                config=config,
                dir=str(run_dir),
                mode=mode,  # type: ignore[arg-type]
                reinit="finish_previous",
                id=run_id or None,
                resume="allow" if run_id else None,
            )
            self._run.define_metric("step")
            self._run.define_metric("*", step_metric="step")
            for row in self.rows:  # what a killed attempt's W&B process may have lost
                self._run.log(row)

    def logged(self, step: int, key: str) -> bool:
        """Whether a kept row of ``step`` holds ``key`` (what a resumed attempt need not log again)."""
        return any(r.get("step") == step and key in r for r in self.rows)

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        row = {
            "step": step,
            "attempt": self.attempt,
            "wall_time": round(time.time() - self.start, 3),
            **metrics,
        }
        with self.path.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        self.rows.append(row)
        if self._run is not None:
            self._run.log(row)

    def finish_preempted(self) -> None:
        """A preempted attempt: W&B marks the run as preempting (it resumes under the same id). The
        W&B service may already be gone with the job's signal: that is not an error worth a trace."""
        if self._run is None:
            return
        run, self._run = self._run, None
        with contextlib.suppress(Exception):
            run.mark_preempting()
            run.finish(exit_code=0)
        import wandb

        with contextlib.suppress(Exception):  # its atexit hook would print the lost connection
            wandb.teardown()

    def finish(self, exit_code: int = 0) -> None:
        if self._run is not None:
            self._run.finish(exit_code=exit_code)
            self._run = None
