"""Where logged runs come from: saerl's run folders, W&B offline files, or the W&B API.

``load_runs`` picks the source: a ``wandb:<entity>/<project>`` location or ``source='wandb-api'``
reads the API; ``'wandb-offline'`` the ``.wandb`` files under a folder; otherwise the run folders.
"""

from __future__ import annotations

import json
from typing import Any

SOURCES = ("auto", "rundirs", "wandb-offline", "wandb-api")


def load_runs(
    location: str, source: str = "auto", filters: str = "", cache: str = "reports/.wandb-cache"
) -> Any:
    """A RunSet from ``location``; ``filters`` is W&B API filter JSON (API source only)."""
    if source not in SOURCES:
        raise ValueError(f"source: expected one of {list(SOURCES)}, got {source!r}")
    if location.startswith("wandb:"):
        source, location = "wandb-api", location.removeprefix("wandb:")
    elif source == "auto":
        source = "rundirs"
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
