"""Sweeps: a sweep file is a base config plus a grid of dotted keys; `saerl study <file>` runs every
grid point locally, in order, through the same stages as `saerl train` (cached stages are reused,
finished runs are skipped, interrupted ones resume), then prints a summary from the run folders.

    name: miniature            # experiment name: W&B group and runs/<name>/
    config: {...}              # optional base config, same schema as a config file
    overrides: [k=v, ...]      # optional overrides on top of it
    grid:                      # cartesian product, in the order written
      rl.target_model: [qwen2-s, llama-s]
      curriculum.mode: [vanilla, saerl]
      rl.seed: [0, 1]
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from saerl.config import ConfigError, SaerlConfig, load_config


@dataclass(frozen=True)
class Sweep:
    name: str
    points: list[list[str]]
    """One override list per run (base overrides + grid assignment)."""
    base: dict[str, Any]


def read_sweep(path: str | Path, extra: list[str] | None = None) -> Sweep:
    """Parse a sweep file; ``extra`` overrides apply to every point (e.g. rl.steps=20)."""
    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read sweep file ({exc})") from exc
    unknown = set(spec) - {"name", "config", "overrides", "grid"}
    if unknown:
        raise ConfigError(
            f"{path}: unknown sweep key(s) {sorted(unknown)}; use name, config, overrides, grid"
        )
    grid: dict[str, list[Any]] = spec.get("grid") or {}
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{path}: grid.{key} must be a non-empty list")
    name = str(spec.get("name") or path.stem)
    base = [f"name={name}", *(spec.get("overrides") or []), *(extra or [])]
    points = [
        [*base, *(f"{k}={json.dumps(v)}" for k, v in zip(grid, combo, strict=True))]
        for combo in itertools.product(*grid.values())
    ]
    sweep = Sweep(name, points, spec.get("config") or {})
    for point in sweep.points:  # fail on a bad key before any work starts
        config_for(sweep, point)
    return sweep


def config_for(sweep: Sweep, point: list[str]) -> SaerlConfig:
    return load_config(overrides=point, base=sweep.base)


def run_sweep(sweep: Sweep) -> list[Path]:
    from saerl.rl.run import train_run
    from saerl.store import ArtifactStore

    paths = []
    for i, point in enumerate(sweep.points):
        cfg = config_for(sweep, point)
        print(f"[{i + 1}/{len(sweep.points)}] {' '.join(point[1:])}", flush=True)
        paths.append(train_run(cfg, ArtifactStore(cfg.store_dir)))
    return paths
