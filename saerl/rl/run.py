"""One training run: the unit of reproducibility, one folder.

    runs/<experiment name>/<target>-<method>-s<seed>/
      config.yaml  git_sha  status.json  metrics.jsonl  order.jsonl  checkpoints/  wandb/

A run whose status is 'done' is not run again; one with checkpoints resumes from the last of them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from saerl.config import SaerlConfig, flat_dict, to_dict
from saerl.store import ArtifactStore, git_sha


def run_name(cfg: SaerlConfig) -> str:
    raw = f"{cfg.rl.target_model}-{cfg.curriculum.mode}-s{cfg.rl.seed}"
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(raw).name if "/" in raw else raw)


def run_dir(cfg: SaerlConfig) -> Path:
    return Path(cfg.runs_dir) / cfg.name / run_name(cfg)


def condition(cfg: SaerlConfig, target_facts: dict[str, Any]) -> dict[str, Any]:
    """The flat keys the analysis groups by; also in W&B's config and the run folder.
    ``target_facts``: the target's family (model_type) and scale (parameters), from model_facts."""
    return {
        "sweep": cfg.name,
        "source_model": cfg.activations.source_model,
        "target_model": cfg.rl.target_model,
        "family": target_facts.get("family"),
        "scale": target_facts.get("scale"),
        "method": cfg.curriculum.mode,
        "seed": cfg.rl.seed,
        "rho": cfg.curriculum.rho,
        "algorithm": cfg.rl.algorithm,
        "batch_size": cfg.curriculum.batch_size,
    }


def status(path: Path) -> dict[str, Any]:
    f = path / "status.json"
    return json.loads(f.read_text()) if f.exists() else {"state": "new"}


def _set_status(path: Path, **fields: Any) -> None:
    """Update status.json, keeping earlier fields (curriculum, target) unless overwritten."""
    current = {k: v for k, v in status(path).items() if k != "error"}
    (path / "status.json").write_text(json.dumps({**current, **fields}, indent=1))


def train_run(cfg: SaerlConfig, store: ArtifactStore) -> Path:
    """Build (or reuse) every stage the run needs, then train; returns the run folder."""
    from saerl.curriculum.stage import FILE, curriculum_stage, read_curriculum
    from saerl.data.grading import resolve_grader_kind
    from saerl.data.stage import data_stage, load_split
    from saerl.models.loading import load_tokenizer, model_facts, resolve_device
    from saerl.models.stage import resolve_model
    from saerl.rl.trl_backend import train_grpo
    from saerl.tracking import Tracker

    path = run_dir(cfg)
    if status(path)["state"] == "done":
        return path
    data = data_stage(cfg, store)
    cur = curriculum_stage(cfg, store)
    target = resolve_model(cfg, store, data, cfg.rl.target_model)
    table, cur_cfg = read_curriculum(cur.path / FILE)
    evals = {split: load_split(data, split)[: cfg.rl.eval_items] for split in cfg.rl.eval_splits}

    path.mkdir(parents=True, exist_ok=True)
    (path / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    (path / "git_sha").write_text(git_sha() + "\n")
    cond = condition(cfg, model_facts(target.path))
    (path / "condition.json").write_text(json.dumps(cond, indent=1))
    _set_status(path, state="running", curriculum=str(cur.path), target=target.path)
    tracker = Tracker(
        path,
        {**flat_dict(cfg), **cond},  # condition keys win (its seed is the RL seed, rl.seed)
        mode=cfg.rl.wandb,
        project=cfg.rl.wandb_project,
        group=cfg.name,
        name=run_name(cfg),
    )
    try:
        final = train_grpo(
            cfg.rl,
            path,
            target.path,
            load_tokenizer(target.path),
            table,
            evals,
            resolve_grader_kind(cfg.data.grader, cfg.data.source),
            tracker,
            resolve_device(cfg.device),
        )
    except BaseException as exc:
        _set_status(path, state="failed", error=f"{type(exc).__name__}: {exc}")
        tracker.finish(exit_code=1)  # W&B marks the run failed, as status.json does
        raise
    tracker.finish()
    _set_status(path, state="done", final=final, curriculum_batch_size=cur_cfg["batch_size"])
    return path
