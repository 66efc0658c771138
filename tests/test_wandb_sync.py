"""`saerl sync`: a sweep's offline W&B runs go to `wandb sync` once each, a run's attempts in the
order they started; a second call uploads nothing. No W&B server can run here, so wandb itself is
stood in for by a runner that does what `wandb sync` does on success: mark each file it uploaded
with `<file>.synced` (wandb/cli/beta_sync.py reads that marker to skip synced files)."""

from __future__ import annotations

import sys
from pathlib import Path

from saerl.launch.wandb_sync import offline_runs, sync_runs


def _attempt(run: Path, start: str, run_id: str) -> Path:
    folder = run / "wandb" / f"offline-run-{start}-{run_id}"
    folder.mkdir(parents=True)
    (folder / f"run-{run_id}.wandb").write_bytes(b"W&B\x00")
    return folder / f"run-{run_id}.wandb"


def test_sync_uploads_each_attempt_once_in_start_order(tmp_path):
    calls: list[list[str]] = []

    def wandb_sync(argv: list[str]) -> None:
        calls.append(argv)
        for path in argv[argv.index("--yes") + 1 :]:
            if not path.startswith("--") and path.endswith(".wandb"):
                Path(path + ".synced").write_text("")

    first = _attempt(tmp_path / "run-a", "20261203_100000", "aaa")
    second = _attempt(tmp_path / "run-a", "20261203_110000", "aaa")  # requeued: same W&B id
    other = _attempt(tmp_path / "run-b", "20261203_100500", "bbb")
    (tmp_path / "run-c").mkdir()  # an online run's folder: nothing to upload
    lines = sync_runs(tmp_path, project="saerl", runner=wandb_sync)
    assert lines == [
        "run-a (W&B run aaa): uploaded 2 attempt(s) of 2",
        "run-b (W&B run bbb): uploaded 1 attempt(s) of 1",
    ]
    assert calls[0][:4] == [sys.executable, "-m", "wandb", "sync"] and "--skip-synced" in calls[0]
    assert calls[0][-2:] == [str(first), str(second)] and calls[1][-1] == str(other)
    assert calls[0][calls[0].index("--project") + 1] == "saerl"
    calls.clear()
    assert sync_runs(tmp_path, runner=wandb_sync)[0].endswith("nothing new, 2 attempt(s) uploaded before")
    assert calls == []  # idempotent
    third = _attempt(tmp_path / "run-a", "20261203_120000", "aaa")  # requeued after the first sync
    assert sync_runs(tmp_path, runner=wandb_sync)[0] == "run-a (W&B run aaa): uploaded 1 attempt(s) of 3"
    assert calls[0][-1] == str(third) and len([a for a in calls[0] if a.endswith(".wandb")]) == 1
    assert [r.run_id for r in offline_runs(tmp_path)] == ["aaa", "bbb"]


def test_sync_says_so_when_a_sweep_has_no_offline_runs_and_fails_when_wandb_marks_nothing(tmp_path):
    import pytest

    assert "no offline W&B runs" in sync_runs(tmp_path / "missing")[0]
    _attempt(tmp_path / "r", "20261203_100000", "x")
    with pytest.raises(RuntimeError, match="wandb sync did not mark"):
        sync_runs(tmp_path, runner=lambda argv: None)


def test_the_command_is_one_the_real_wandb_cli_accepts(tmp_path):
    """The real `wandb sync`, in its dry-run mode, on a real offline run made by saerl's tracker."""
    import subprocess

    from saerl.launch.wandb_sync import wandb_sync_command
    from saerl.tracking import Tracker

    run = tmp_path / "sweep" / "run-x"
    run.mkdir(parents=True)
    tracker = Tracker(run, {"a": 1}, mode="offline", run_id="abc123", name="run-x")
    tracker.log(0, {"eval/average": 0.5})
    tracker.finish()
    (found,) = offline_runs(tmp_path / "sweep")
    argv = wandb_sync_command(found.pending, project="saerl")
    out = subprocess.run([*argv[:4], "--dry-run", *argv[4:]], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Would sync 1 run(s)" in out.stdout + out.stderr and found.run_id == "abc123"
