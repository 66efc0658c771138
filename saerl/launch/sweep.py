"""Sweeps: a sweep file is a base config plus a grid of dotted keys; `saerl study <file>` runs every
grid point locally, in order, through the same stages as `saerl train` (cached stages are reused,
finished runs are skipped, interrupted ones resume), then prints a summary from the run folders.

    name: miniature            # experiment name: W&B group and runs/<name>/
    config: {...}              # optional base config, same schema as a config file, or the path
                               # of one (relative to the sweep file), e.g. ../configs/real.yaml
    overrides: [k=v, ...]      # optional overrides on top of it
    grid:                      # cartesian product, in the order written
      rl.target_model: [qwen2-s, llama-s]
      curriculum.mode: [vanilla, saerl]
      rl.seed: [0, 1]
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from saerl.config import ConfigError, SaerlConfig, load_experiment
from saerl.configlib import load_yaml
from saerl.launch.graph import StageGraph


@dataclass(frozen=True)
class Sweep:
    name: str
    points: list[list[str]]
    """One override list per run (base overrides + grid assignment)."""
    base: dict[str, Any]
    varying: tuple[str, ...] = ()
    """The grid's keys: they name the run folders."""
    configs: tuple[SaerlConfig, ...] = ()
    """Each point's validated config, built once by read_sweep (a command never re-parses them)."""


def read_sweep(path: str | Path, extra: list[str] | None = None) -> Sweep:
    """Parse a sweep file; ``extra`` overrides apply to every point (e.g. rl.steps=20)."""
    path = Path(path)
    try:
        spec = load_yaml(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read sweep file ({exc})") from exc
    if not isinstance(spec, dict):
        raise ConfigError(f"{path}: a sweep file is a mapping (name, config, overrides, grid)")
    if not isinstance(spec.get("grid") or {}, dict):
        raise ConfigError(f"{path}: grid must map dotted keys to lists of values")
    if not isinstance(spec.get("overrides") or [], list):
        raise ConfigError(f"{path}: overrides must be a list of key=value strings")
    if isinstance(spec.get("config"), str):
        spec["config"] = _base_file(path, spec["config"])
    if not isinstance(spec.get("config") or {}, dict):
        raise ConfigError(f"{path}: config must be a mapping or the path of a config file")
    unknown = set(spec) - {"name", "config", "overrides", "grid"}
    if unknown:
        raise ConfigError(
            f"{path}: unknown sweep key(s) {sorted(unknown)}; use name, config, overrides, grid"
        )
    grid: dict[str, list[Any]] = spec.get("grid") or {}
    if not grid:  # an empty file or grid would otherwise be one run of the default config
        raise ConfigError(f"{path}: no grid: nothing to sweep (a sweep needs grid: {{key: [values, ...]}})")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{path}: grid.{key} must be a non-empty list")
    name = str(spec.get("name") or path.stem)
    base = [f"name={name}", *(spec.get("overrides") or []), *(extra or [])]
    points = [
        [*base, *(f"{k}={json.dumps(v)}" for k, v in zip(grid, combo, strict=True))]
        for combo in itertools.product(*grid.values())
    ]
    sweep = Sweep(name, points, spec.get("config") or {}, tuple(grid))
    # Every point's config, validated before any work starts (a bad key fails here, naming the point).
    return dataclasses.replace(sweep, configs=tuple(config_for(sweep, p) for p in points))


def _base_file(sweep_path: Path, name: str) -> dict[str, Any]:
    """The mapping of a base config file named by a sweep (relative to the sweep file)."""
    base = (sweep_path.parent / name).resolve() if not Path(name).is_absolute() else Path(name)
    try:
        tree = load_yaml(base.read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"{sweep_path}: config {name}: cannot read {base} ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{sweep_path}: config {name}: not YAML ({exc})") from None
    if not isinstance(tree, dict):
        raise ConfigError(f"{sweep_path}: config {name}: {base} is not a mapping")
    return tree


def config_for(sweep: Sweep, point: list[str]) -> SaerlConfig:
    try:
        return load_experiment(overrides=point, base=sweep.base)
    except ConfigError as exc:
        raise ConfigError(f"sweep {sweep.name}, point {' '.join(point[1:])}: {exc}") from None


def sweep_graphs(sweep: Sweep) -> list[StageGraph]:
    """One stage graph per point; the plan of their run nodes shares every common stage."""
    configs = sweep.configs or tuple(config_for(sweep, p) for p in sweep.points)
    return [StageGraph(cfg, sweep.varying) for cfg in configs]


def run_sweep(sweep: Sweep) -> list[Path]:
    """Every point's run, in order, through one executor (each shared stage built once)."""
    from saerl.launch.local import LocalExecutor
    from saerl.store import ArtifactStore

    graphs = sweep_graphs(sweep)
    check_distinct(graphs)
    first = graphs[0].cfg
    ex = LocalExecutor(ArtifactStore(first.store_dir), first.device)
    paths = []
    for i, (graph, point) in enumerate(zip(graphs, sweep.points, strict=True)):
        print(f"[{i + 1}/{len(graphs)}] {' '.join(point[1:])}", flush=True)
        paths.append(ex.materialize(graph.run))
    return paths


def check_distinct(graphs: list[StageGraph]) -> None:
    """Two points of one sweep must never share a run folder."""
    seen: dict[str, int] = {}
    for i, g in enumerate(graphs):
        folder = g.run.params["name"]
        if folder in seen:
            raise ConfigError(f"sweep points {seen[folder] + 1} and {i + 1} resolve to the same run {folder}")
        seen[folder] = i
