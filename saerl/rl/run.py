"""One training run: the unit of reproducibility, one folder.

    runs/<experiment name>/<target>-<method>[-<other swept keys>]-s<seed>-<identity hash>/
      config.yaml  condition.json  git_sha  status.json  metrics.jsonl  order.jsonl  checkpoints/  wandb/

The folder name carries what distinguishes the run (the sweep's varying keys) and a short hash of
its identity: the resolved config without where outputs go (``NOT_IDENTITY``). A folder whose
recorded config has another identity is never reused (``RunConflict``); a 'done' run is not run
again; one with checkpoints resumes from the last of them.

condition.json holds the flat keys the analysis groups by. They map onto config keys as follows:
``sweep`` = name, ``source_model`` = activations.source_model, ``target_model`` = rl.target_model,
``method`` = curriculum.mode (``sft`` for the SFT baseline, rl.algorithm=sft), ``seed`` = rl.seed,
``algorithm`` = rl.algorithm, ``batch_size`` = curriculum.batch_size, ``rho`` = the mixing ratio
actually applied (curriculum.rho, or 0 for the modes that do not mix: vanilla, no_mixing);
``family`` and ``scale`` are read off the target model; ``variant`` = the sweep's other swept keys
(``lr=2e-05``; the analysis reports it with the method).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from saerl.configlib import flat_dict
from saerl.data.stage import load_split
from saerl.store import Artifact, git_sha

log = logging.getLogger(__name__)

REQUEUE_ENV = "SAERL_REQUEUE_REQUESTED"
"""Set by a Slurm job's checkpoint handler (saerl.launch.jobs.NodeJob.checkpoint) once submitit has
been asked to requeue it: the SystemExit that follows is a preemption, not a failure."""


def requeue_requested() -> bool:
    return os.environ.get(REQUEUE_ENV) == "1"


VERSION = "1"
NOT_IDENTITY = ("store_dir", "runs_dir", "reports_dir", "device", "rl.wandb", "rl.wandb_project")
"""Flat config keys (and prefixes) that say where outputs go or how they are watched, not what runs."""
UNMIXED_MODES = ("vanilla", "no_mixing")


def unmixed(curriculum: dict[str, Any]) -> bool:
    """True when the curriculum mixes nothing, whatever its configured rho."""
    if curriculum["mode"] == "coverage":  # shuffled batches; mixing only in SAERL's order variant
        return curriculum.get("coverage_order", "shuffle") == "shuffle"
    return curriculum["mode"] in UNMIXED_MODES


class RunConflict(ValueError):
    """A run folder that belongs to a different configuration, or that another process is training."""


@contextlib.contextmanager
def run_lock(path: Path) -> Iterator[None]:
    """Hold ``<run>/.lock`` while training: a second process on the same run refuses instead of
    interleaving batches and doubling metrics. The lock dies with its process (a killed or requeued
    job frees it)."""
    import fcntl
    import os
    import socket

    path.mkdir(parents=True, exist_ok=True)
    with (path / ".lock").open("a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise RunConflict(
                f"{path}: this run is being trained by {holder}; not starting a second one"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def wandb_id(config: dict[str, Any], name: str) -> str:
    """One W&B run per run folder across resumes and requeues."""
    return hashlib.sha256(f"{config['name']}/{name}".encode()).hexdigest()[:16]


def identity(config: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """The flat keys of a resolved config that define what a run computes, where they differ from
    ``defaults`` (every flat key at the current default, ``saerl.config.flat_defaults``; the stage
    graph passes them in a run's params). So a new config field, whose default keeps the old
    behaviour, renames no run folder; and a changed default makes ``check_recorded`` refuse a
    folder made under the old one (its recorded value is then not the default) instead of reusing
    it."""
    return {
        k: v
        for k, v in flat_dict(config).items()
        if not k.startswith(NOT_IDENTITY) and (k not in defaults or defaults[k] != v)
    }


def identity_hash(config: dict[str, Any], defaults: dict[str, Any]) -> str:
    blob = json.dumps(identity(config, defaults), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:6]


def condition(config: dict[str, Any], variant: str = "") -> dict[str, Any]:
    """The analysis's grouping keys (see the module docstring for the mapping), before the target's
    family and scale are known. ``variant``: the sweep's other swept keys (``lr=2e-05``), if any."""
    cur, rl = config["curriculum"], config["rl"]
    return {
        "variant": variant,
        "sweep": config["name"],
        "source_model": config["activations"]["source_model"],
        "target_model": rl["target_model"],
        "family": None,
        "scale": None,
        "method": "sft" if rl["algorithm"] == "sft" else cur["mode"],
        "seed": rl["seed"] + config.get("replicate", 0),  # the RL seed the run trains with
        "replicate": config.get("replicate", 0),
        "rho": 0.0 if unmixed(cur) else cur["rho"],
        "algorithm": rl["algorithm"],
        "batch_size": cur["batch_size"],
    }


def status(path: Path) -> dict[str, Any]:
    f = path / "status.json"
    return json.loads(f.read_text()) if f.exists() else {"state": "new"}


def _set_status(path: Path, **fields: Any) -> None:
    """Update status.json, keeping earlier fields (curriculum, target) unless overwritten."""
    from saerl.store import atomic_write_text

    current = {k: v for k, v in status(path).items() if k != "error"}
    atomic_write_text(path / "status.json", json.dumps({**current, **fields}, indent=1))


def check_recorded(path: Path, config: dict[str, Any], defaults: dict[str, Any]) -> None:
    """Refuse a folder whose recorded config.yaml has another identity than ``config`` (both
    measured against ``defaults``, see ``identity``)."""
    recorded_file = path / "config.yaml"
    if not recorded_file.exists():
        return
    recorded = yaml.safe_load(recorded_file.read_text()) or {}
    mine, theirs = identity(config, defaults), identity(recorded, defaults)
    if mine != theirs:
        diff = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))

        def value(side: dict[str, Any], k: str) -> str:
            return repr(side[k]) if k in side else f"{defaults.get(k)!r} (the default)"

        shown = ", ".join(f"{k}: {value(theirs, k)} there vs {value(mine, k)} here" for k in diff[:5])
        raise RunConflict(
            f"{path}: this run folder was made by another config ({recorded_file}); differing keys: "
            f"{shown}{' ...' if len(diff) > 5 else ''}. Move the folder away or change `name`."
        )


def resumed_step(path: Path, rl: Any) -> int | None:
    """The curriculum step a TRL run resumes after (its last complete checkpoint), None for a
    fresh start (the SFT baseline keeps no checkpoints: it always starts afresh)."""
    if rl.algorithm == "sft":
        return None
    from saerl.rl.trl_backend import last_checkpoint

    ckpt = last_checkpoint(path)
    return None if ckpt is None else int(Path(ckpt).name.split("-")[1]) // rl.updates_per_batch


def execute_run(params: dict[str, Any], inputs: dict[str, Artifact], device: str) -> Path:
    """Train one run (params and inputs from the stage graph's run node); returns its folder."""
    config = params["config"]
    if params["rl"].backend != "trl":
        raise ValueError(
            f"rl.backend={params['rl'].backend}: runs on a GPU cluster; this release renders and checks "
            "its command line (saerl.rl.openrlhf) but has no job driver for it yet; use rl.backend=trl"
        )
    path = Path(config["runs_dir"]) / config["name"] / params["name"]
    check_recorded(path, config, params["defaults"])
    if status(path)["state"] == "done":
        return path
    with run_lock(path):
        return _train(path, params, inputs, device)


def _train(path: Path, params: dict[str, Any], inputs: dict[str, Artifact], device: str) -> Path:
    from saerl.curriculum.stage import FILE, read_curriculum
    from saerl.models.loading import load_tokenizer, model_facts
    from saerl.rl.eval0 import eval_sets
    from saerl.rl.trl_backend import train_grpo
    from saerl.tracking import Tracker

    config, rl = params["config"], params["rl"]
    # again under the lock: another process may have started first
    check_recorded(path, config, params["defaults"])
    if status(path)["state"] == "done":
        return path
    cur, target = inputs["curriculum"], inputs["target"]
    table, cur_cfg = read_curriculum(cur.path / FILE)
    evals = eval_sets(inputs, rl.eval_splits, rl.eval_benchmarks, rl.eval_items, rl.instruction)

    path.mkdir(parents=True, exist_ok=True)
    (path / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (path / "git_sha").write_text(git_sha() + "\n")
    cond = condition(config, params.get("variant", "")) | model_facts(target.path)
    (path / "condition.json").write_text(json.dumps(cond, indent=1))
    attempt = int(status(path).get("attempts", 0)) + 1
    resume_step = resumed_step(path, rl)
    _set_status(path, state="running", curriculum=str(cur.path), target=str(target.path), attempts=attempt)
    tracker = Tracker(
        path,
        {**flat_dict(config), **cond},  # condition keys win (its seed is the RL seed, rl.seed)
        mode=rl.wandb,
        project=rl.wandb_project,
        group=config["name"],
        name=params["name"],
        run_id=wandb_id(config, params["name"]),
        attempt=attempt,
        resume_step=resume_step,
    )
    info = cur.manifest.get("info", {})
    if "pool_fraction" in info and not tracker.logged(
        0, "data/pool_fraction"
    ):  # what share of the prompt pool this run trains on (its curriculum)
        shares = {"data/pool_fraction": info["pool_fraction"], "data/prompts": info["unique_prompts"]}
        if "kept_fraction" in info:  # the share of what the quality filter kept (not of the whole pool)
            shares["data/kept_fraction"] = info["kept_fraction"]
        tracker.log(0, shares)
    try:
        if rl.algorithm == "sft":  # the same-compute SFT baseline: no RL
            from saerl.rl.sft_baseline import train_sft_baseline

            by_id = {r.id: r for r in load_split(inputs["data"], "train")}
            records = [by_id[i] for i in table.column("id").to_pylist()]
            final = train_sft_baseline(
                rl, path, str(target.path), load_tokenizer(target.path), records,
                cur_cfg["batch_size"], evals, params["grader"], tracker, device,
            )  # fmt: skip
        else:
            final = train_grpo(
                rl,
                path,
                str(target.path),
                load_tokenizer(target.path),
                table,
                evals,
                params["grader"],
                tracker,
                device,
            )
    except SystemExit:
        if not requeue_requested():
            _set_status(path, state="failed", error="SystemExit")
            tracker.finish(exit_code=1)
            raise
        # Preempted or at its time limit: submitit has requeued the job, which resumes from the
        # last checkpoint. Not a failure, in status.json or in W&B.
        _set_status(path, state="requeued", note="preempted or timed out; Slurm requeued the job")
        log.warning("%s: preempted; requeued, it resumes from its last checkpoint", path.name)
        tracker.finish_preempted()
        raise
    except BaseException as exc:
        _set_status(path, state="failed", error=f"{type(exc).__name__}: {exc}")
        tracker.finish(exit_code=1)  # W&B marks the run failed, as status.json does
        raise
    tracker.finish()
    _set_status(path, state="done", final=final, curriculum_batch_size=cur_cfg["batch_size"])
    return path
