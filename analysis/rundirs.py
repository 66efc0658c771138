"""saerl's own run directories (metrics.jsonl + condition.json + status.json) as simple records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

from analysis.convergence import Curve


class Run(NamedTuple):
    path: Path
    condition: dict[str, Any]
    state: str
    rows: list[dict[str, Any]]

    def curve(self, key: str = "eval/average") -> Curve:
        return [(int(r["step"]), float(r[key])) for r in self.rows if key in r]


def load_run(path: Path) -> Run:
    cond_file, status_file, metrics_file = (
        path / "condition.json",
        path / "status.json",
        path / "metrics.jsonl",
    )
    condition = json.loads(cond_file.read_text()) if cond_file.exists() else {}
    state = json.loads(status_file.read_text()).get("state", "unknown") if status_file.exists() else "unknown"
    rows = []
    if metrics_file.exists():
        rows = [json.loads(line) for line in metrics_file.read_text().splitlines() if line.strip()]
    return Run(path, condition, state, rows)


def load_runs(root: Path) -> list[Run]:
    """Every run folder (one holding condition.json) under ``root``, sorted by path."""
    return [load_run(p.parent) for p in sorted(Path(root).rglob("condition.json"))]
