"""Where logged runs come from: saerl's run folders, W&B offline files, the W&B API, or the
committed results (runs.csv + metrics.csv, analysis/results.py).

``load_runs`` picks the source: a ``wandb:<entity>/<project>`` location or ``source='wandb-api'``
reads the API; ``'wandb-offline'`` the ``.wandb`` files under a folder; a folder holding runs.csv
and metrics.csv is the committed results; otherwise the run folders.
"""

from __future__ import annotations

import json
from typing import Any

SOURCES = ("auto", "rundirs", "results", "wandb-offline", "wandb-api")


def load_runs(
    location: str, source: str = "auto", filters: str = "", cache: str = "reports/.wandb-cache"
) -> Any:
    """A RunSet from ``location``; ``filters`` is W&B API filter JSON (API source only)."""
    if source not in SOURCES:
        raise ValueError(f"source: expected one of {list(SOURCES)}, got {source!r}")
    if location.startswith("wandb:"):
        source, location = "wandb-api", location.removeprefix("wandb:")
    elif source == "auto":
        from pathlib import Path

        from analysis.sources.tidy_files import is_results

        source = "results" if is_results(Path(location)) else "rundirs"
    if source == "results":
        from analysis.sources import tidy_files

        return tidy_files.load(location)
    if source == "rundirs":
        from analysis.sources import rundirs

        return rundirs.load(location)
    if source == "wandb-offline":
        from analysis.sources import wandb_offline

        return wandb_offline.load(location)
    from analysis.sources import wandb_api

    try:
        parsed = json.loads(filters) if filters else None
    except json.JSONDecodeError as exc:
        raise ValueError(f"--filter: not valid JSON ({exc})") from exc
    return wandb_api.load(location, parsed, cache)
