"""What every benchmark shares: the machine it ran on, and one writer for its figures (JSON), its
table (markdown) and the table on stdout."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any


def write_bench(out: Path, name: str, results: dict[str, Any], text: str) -> None:
    """``out``/``name``.json (the figures) and .md (the table), and the table on stdout."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(results, indent=1))
    (out / f"{name}.md").write_text(text)
    print(text)


def machine(*, torch: bool = True, **extra: Any) -> dict[str, Any]:
    """CPU cores, Python and (``torch=True``) torch's version and thread count, plus ``extra``."""
    info: dict[str, Any] = {"cpu_count": os.cpu_count()}
    if torch:
        import torch as _torch

        info["torch_threads"] = _torch.get_num_threads()
    info["python"] = platform.python_version()
    if torch:
        info["torch"] = _torch.__version__
    return info | extra
