"""The one writer every benchmark shares: its figures as JSON, its table as markdown, the table on
stdout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_bench(out: Path, name: str, results: dict[str, Any], text: str) -> None:
    """``out``/``name``.json (the figures) and .md (the table), and the table on stdout."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(results, indent=1))
    (out / f"{name}.md").write_text(text)
    print(text)
