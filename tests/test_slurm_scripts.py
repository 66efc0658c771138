"""slurm/down.sh stops exactly what slurm/up.sh started, by pid file (daemons stood in for by copies
of `sleep` carrying the daemons' names): never a same-named process it did not start."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).parent.parent


def _daemon(bin_dir: Path, name: str) -> subprocess.Popen:
    exe = bin_dir / name
    if not exe.exists():
        shutil.copy(shutil.which("sleep") or "/bin/sleep", exe)
    return subprocess.Popen([str(exe), "300"])


def test_slurm_down_stops_the_listed_daemons_munged_included_and_nothing_else(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    listed = {name: _daemon(bin_dir, name) for name in ("slurmd", "mariadbd", "munged")}
    foreign = _daemon(bin_dir, "munged")  # another munged on the machine: not started by up.sh
    lines = []
    for name, proc in listed.items():
        (tmp_path / f"{name}.pid").write_text(f"{proc.pid}\n")
        lines.append(f"{name} {tmp_path / f'{name}.pid'}")
    (tmp_path / "stale.pid").write_text(f"{foreign.pid}\n")  # a pid file now naming another program
    lines.append(f"slurmctld {tmp_path / 'stale.pid'}")
    (tmp_path / "started.list").write_text("\n".join(lines) + "\n")
    try:
        out = subprocess.run(
            ["bash", str(ROOT / "slurm/down.sh")], capture_output=True, text=True, timeout=60,
            env={**os.environ, "SAERL_SLURM_DIR": str(tmp_path)},
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        time.sleep(0.5)
        assert all(p.poll() is not None for p in listed.values()), out.stdout
        assert foreign.poll() is None  # same name, not listed: alive
        assert "stopped munged" in out.stdout and "cancelling" not in out.stdout
        assert not (tmp_path / "started.list").exists()
    finally:
        for p in [*listed.values(), foreign]:
            p.kill()
            p.wait()
