"""Runs from a W&B server through the public API, cached locally as parquet.

`wandb.Api().runs("entity/project", filters)` lists the runs; each run's `scan_history()` pages
through its logged rows. A report should not re-download a sweep of finished runs every time, so each
run's rows are cached in ``cache_dir`` under the run's id with the run's state and last logged step
in the parquet metadata: a cached finished run whose last step has not moved is read from disk; a
running one (or one that logged more since) is fetched again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.tidy import RunLog, RunSet, build, condition_of

# W&B run states -> the tidy table's states.
STATES = {
    "finished": "done",
    "crashed": "failed",
    "failed": "failed",
    "killed": "failed",
    "running": "running",
}
CACHE_META = b"saerl"


def _cache_file(cache_dir: Path, path: str, run_id: str) -> Path:
    return cache_dir / path.replace("/", "__") / f"{run_id}.parquet"


def _read_cache(file: Path) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    import pyarrow.parquet as pq

    if not file.exists():
        return None
    try:
        table = pq.read_table(file)
    except Exception:  # a torn cache file is refetched, never trusted
        return None
    meta = json.loads((table.schema.metadata or {}).get(CACHE_META, b"{}"))
    rows = [{k: v for k, v in r.items() if v is not None} for r in table.to_pylist()]
    return meta, rows


def _write_cache(file: Path, meta: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from saerl.store import atomic_path

    numeric = [
        {k: v for k, v in r.items() if isinstance(v, (int, float)) and not isinstance(v, bool)} for r in rows
    ]
    frame = pd.DataFrame(numeric) if numeric else pd.DataFrame({"_step": pd.Series([], dtype="int64")})
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), CACHE_META: json.dumps(meta).encode()}
    )
    file.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(file) as tmp:
        pq.write_table(table, tmp)


def _last_step(run: Any) -> int | None:
    step = getattr(run, "lastHistoryStep", None)
    return int(step) if isinstance(step, (int, float)) else None


def history(
    run: Any, path: str, cache_dir: Path | None
) -> Iterator[Mapping[str, Any]] | list[dict[str, Any]]:
    """The run's rows: from the cache when it is current, else from the server (and cached)."""
    meta = {"id": run.id, "state": run.state, "last_step": _last_step(run)}
    file = _cache_file(cache_dir, path, run.id) if cache_dir is not None else None
    if file is not None and (cached := _read_cache(file)) is not None:
        old, rows = cached
        if old == meta and run.state != "running":
            return rows
    rows = [dict(r) for r in run.scan_history()]
    if file is not None:
        _write_cache(file, meta, rows)
    return rows


def load(
    path: str,
    filters: dict[str, Any] | None = None,
    cache_dir: str | Path | None = "reports/.wandb-cache",
    api: Any = None,
) -> RunSet:
    """Runs of the W&B project ``path`` ('entity/project'), optionally filtered (W&B's MongoDB-style
    filters, e.g. {'group': 'miniature'}). ``api`` defaults to ``wandb.Api()`` (the key comes from
    the environment or ~/.netrc, never from saerl)."""
    if api is None:
        import wandb

        try:
            api = wandb.Api()
        except Exception as exc:
            raise LookupError(
                f"wandb:{path}: cannot reach the W&B API ({type(exc).__name__}: {exc})"
            ) from exc
    cache = Path(cache_dir) if cache_dir is not None else None
    logs = []
    try:
        found = list(api.runs(path, filters=filters or {}))
    except Exception as exc:  # no key, no network, unknown project: say which and what to do
        raise LookupError(
            f"wandb:{path}: cannot list runs ({type(exc).__name__}: {exc}); check WANDB_API_KEY and the "
            "path, or read the offline files with --source wandb-offline"
        ) from exc
    for run in found:
        cond = condition_of(dict(run.config), getattr(run, "group", None))
        state = STATES.get(run.state, "unknown")
        logs.append(
            RunLog(
                f"{cond['sweep']}/{run.name}",
                cond,
                state,
                f"wandb:{path}/{run.id}",
                history(run, path, cache),
            )
        )
    if not logs:
        raise LookupError(f"wandb:{path}: no runs match {filters or {}}")
    return build(logs)
