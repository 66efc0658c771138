"""saerl's own run folders (runs/<sweep>/<run>/ with metrics.jsonl, condition.json, status.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from analysis.tidy import READ_KEYS, RunLog, RunSet, build


def _json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text()) if path.exists() else {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Rows of metrics.jsonl; a torn last line (a run killed mid-write) is skipped, any other bad
    line is an error naming the file and line."""
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            if n == len(lines):
                break
            raise ValueError(f"{path}:{n}: not valid JSON ({exc})") from exc
    return rows


def read_run(folder: Path) -> RunLog:
    cond = _json(folder / "condition.json")
    cond = {k: cond.get(k) for k in READ_KEYS} | {"sweep": cond.get("sweep") or folder.parent.name}
    state = _json(folder / "status.json").get("state", "unknown")
    state = "running" if state == "requeued" else state  # preempted, waiting for its next attempt
    return RunLog(
        f"{cond['sweep']}/{folder.name}", cond, state, str(folder), read_metrics(folder / "metrics.jsonl")
    )


def load(root: str | Path) -> RunSet:
    """Every run folder (one holding condition.json) under ``root``."""
    folders = sorted(p.parent for p in Path(root).rglob("condition.json"))
    if not folders:
        raise FileNotFoundError(f"{root}: no run folders (condition.json) found")
    return build(read_run(f) for f in folders)
