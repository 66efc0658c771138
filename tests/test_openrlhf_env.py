"""slurm/openrlhf-env.sh, as far as a CPU box allows: the recipe's order (torch before the two
source builds, which run without build isolation; OpenRLHF's pins after them; saerl without its
own pins) with a recording stand-in for python/pip, since flash-attn needs nvcc to build."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).parent.parent

FAKE_PYTHON = """#!/usr/bin/env bash
# python3.11 -m venv PREFIX: make PREFIX/bin/python a recorder of every later call
if [ "$1 $2" = "-m venv" ]; then
  mkdir -p "$3/bin"
  rec='#!/usr/bin/env bash\\necho "$*" >> %s\\n[ "$1" = "-" ] && cat >/dev/null\\nexit 0\\n'
  printf "$rec" "$LOG" > "$3/bin/python"
  chmod +x "$3/bin/python"
fi
"""


def test_the_openrlhf_environment_installs_torch_first_then_the_source_builds_without_isolation(tmp_path):
    fake = tmp_path / "python3.11"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    log = tmp_path / "calls.log"
    env = {
        **os.environ,
        "PYTHON": str(fake),
        "LOG": str(log),
        "PIP_ARGS": "--index-url https://mirror/simple",
    }
    out = subprocess.run(
        ["bash", str(ROOT / "slurm/openrlhf-env.sh"), str(tmp_path / "env")],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    calls = log.read_text().splitlines()
    installs = [c for c in calls if c.startswith("-m pip install")]
    where = {name: next(i for i, c in enumerate(installs) if name in c) for name in
             ("torch==2.13.0", "deepspeed==0.19.6", "flash-attn==2.8.3", "-r ", "--no-deps -e")}  # fmt: skip
    assert where["torch==2.13.0"] < where["deepspeed==0.19.6"] < where["flash-attn==2.8.3"] < where["-r "]
    assert where["-r "] < where["--no-deps -e"]
    for name in ("deepspeed==0.19.6", "flash-attn==2.8.3"):
        assert "--no-build-isolation" in installs[where[name]]
    assert all("--index-url https://mirror/simple" in c for c in installs)
    assert installs[where["--no-deps -e"]].endswith(str(ROOT))
    assert any(c == "-m pip check" for c in calls) and calls[-1] == "-"  # the final import check
