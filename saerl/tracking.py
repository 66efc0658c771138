"""Run tracking: metrics.jsonl always; W&B (offline by default, online, or disabled) mirrors the
same rows. wandb is imported only when it is used; its key, if any, comes from the environment."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any


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
    ) -> None:
        """``run_id``: a stable W&B run id; a resumed or requeued run continues the same W&B run."""
        self.path = run_dir / "metrics.jsonl"
        self.start = time.time()
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

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        row = {"step": step, "wall_time": round(time.time() - self.start, 3), **metrics}
        with self.path.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        if self._run is not None:
            self._run.log(row, step=step)

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
