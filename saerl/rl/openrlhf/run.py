"""One RL run on the OpenRLHF backend: a multi-node Slurm job, one submitit task per node.

    runs/<sweep>/<run>/  config.yaml  condition.json  status.json  metrics.jsonl (step 0)
      openrlhf/  prompts.jsonl  evals.jsonl  command.sh  order-log.<pid>  order_audit.json
                 actor-model/  (the target, with a generation config that stops at the turn end)
      checkpoints/  (OpenRLHF's: resume loads from it)   model/  (the trained model, HF format)
      wandb/

Rank 0 writes the run folder and the OpenRLHF inputs (the curriculum in training order, the eval
sets, the model folder OpenRLHF loads: saerl.rl.openrlhf.model, the command line), logs the
step-0 evaluation (the ``eval0`` node: OpenRLHF evaluates only after training steps) to
metrics.jsonl and W&B, then every rank takes part in the job's Ray
cluster (saerl.rl.openrlhf.ray_cluster) while rank 0's driver runs OpenRLHF. Afterwards rank 0 audits
the order in which the reward function saw the prompts against the curriculum
(``openrlhf/order_audit.json``) and marks the run done. A requeued job resumes from OpenRLHF's
last checkpoint and keeps the W&B run (``WANDB_RUN_ID`` + ``WANDB_RESUME=allow``, which OpenRLHF's
``wandb.init`` honours).

Everything but the Ray job itself is a pure function of the plan (``launch_spec``), so a dry run
writes the same command lines a submission would run.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from saerl.rl.openrlhf import model as openrlhf_model
from saerl.rl.openrlhf.command import RunPaths, check_command, render_command

FOLDER = "openrlhf"


@dataclass(frozen=True)
class LaunchSpec:
    run_dir: Path
    paths: RunPaths
    argv: list[str]
    """OpenRLHF's arguments (no secret: ``--logger.wandb.key`` is a placeholder)."""
    env: dict[str, str]
    """What the driver and every Ray worker get on top of the job's environment."""
    nodes: int
    entry: str
    setup_hook: str
    target: str = ""
    """The target model as named (folder or hub id); OpenRLHF loads ``paths.model``, written from it."""

    def driver(self, python: str) -> list[str]:
        head = [python, "-m", "saerl.rl.openrlhf.driver", "--nodes", str(self.nodes)]
        head += ["--entry", self.entry, "--setup-hook", self.setup_hook]
        return [*head, "--", *self.argv]

    def script(self, python: str = "python", stops: str = "") -> str:
        """The command as a shell script (what the job runs on rank 0, for reading and reruns);
        ``stops``: the model folder's stop rule, when known."""
        model = f"# {self.paths.model}: {self.target or 'the target'}, generation config that "
        model += stops or "stops at the chat turn end (written by rank 0 at launch)"
        model = " ".join(model.split()) + "\n"  # one comment line whatever the names hold
        exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(self.env.items()))
        groups: list[list[str]] = []
        for a in self.driver(python):  # one flag and its values per line
            word = shlex.quote(a)  # every argument, so no value is ever shell code
            if a.startswith("-") or not groups:
                groups.append([word])
            else:
                groups[-1].append(word)
        lines = " \\\n    ".join(" ".join(g) for g in groups)
        return f"#!/usr/bin/env bash\n# rank 0 of the run's Ray job runs:\n{model}{exports}{lines}\n"


def launch_spec(params: dict[str, Any], target_path: str, wandb_run_id: str) -> LaunchSpec:
    """Where the run's files go and the OpenRLHF command line, from the run node's params (pure)."""
    config, rl = params["config"], params["rl"]
    run_dir = Path(config["runs_dir"]) / config["name"] / params["name"]
    files = run_dir / FOLDER
    paths = RunPaths(
        model=str(files / openrlhf_model.FOLDER),
        prompts=str(files / "prompts.jsonl"),
        evals=str(files / "evals.jsonl"),
        reward=reward_file(),
        ckpt=str(run_dir / "checkpoints"),
        output=str(run_dir / "model"),
    )
    prompts_per_step = config["curriculum"]["batch_size"]
    check_command(rl, prompts_per_step)
    argv = render_command(rl, prompts_per_step, paths, wandb_group=config["name"], run_name=params["name"])
    env = {
        "SAERL_ORDER_LOG": str(files / "order-log"),
        "WANDB_RUN_ID": wandb_run_id,
        "WANDB_RESUME": "allow",
        "WANDB_DIR": str(run_dir),
        "SAERL_GRADE_TIMEOUT_S": f"{rl.grade_timeout_s:g}",  # the reward function's per-item limit
    }
    if rl.wandb != "disabled":  # rl.wandb decides, not whatever WANDB_MODE the submitting shell had
        env["WANDB_MODE"] = rl.wandb
    o = rl.openrlhf
    return LaunchSpec(run_dir, paths, argv, env, o.num_nodes, o.entry, o.setup_hook, target_path)


def reward_file() -> str:
    from saerl.rl.openrlhf import reward as openrlhf_reward

    return str(Path(openrlhf_reward.__file__).resolve())


def prepare(spec: LaunchSpec, params: dict[str, Any], inputs: dict[str, Any], python: str) -> None:
    """Rank 0, before Ray: the run folder, OpenRLHF's input files and the step-0 evaluation."""
    from saerl.curriculum.stage import FILE, read_curriculum
    from saerl.rl.eval0 import eval_sets
    from saerl.rl.openrlhf.reward import export_evals, export_prompts
    from saerl.rl.run import _set_status, condition, status
    from saerl.store import atomic_write_text, git_sha

    config, rl = params["config"], params["rl"]
    run_dir, files = spec.run_dir, spec.run_dir / FOLDER
    files.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (run_dir / "git_sha").write_text(git_sha() + "\n")
    cond = condition(config, params.get("variant", "")) | target_facts(inputs["target"].path)
    (run_dir / "condition.json").write_text(json.dumps(cond, indent=1))
    table, _ = read_curriculum(inputs["curriculum"].path / FILE)
    export_prompts(table, Path(spec.paths.prompts), params["grader"], rl.instruction)
    evals = eval_sets(inputs, rl.eval_splits, rl.eval_benchmarks, rl.eval_items, rl.instruction)
    export_evals(evals, Path(spec.paths.evals), params["grader"], rl.eval_benchmarks)
    stops = openrlhf_model.write_actor_folder(spec.target, Path(spec.paths.model))
    atomic_write_text(files / "command.sh", spec.script(python, stops.describe()))
    if not status(run_dir).get("step0_logged"):
        log_step0(run_dir, config, params, cond, inputs["eval0"])
    _set_status(
        run_dir,
        state="running",
        step0_logged=True,
        stop_tokens=stops.tokens,
        curriculum=str(inputs["curriculum"].path),
        target=str(inputs["target"].path),
    )


def target_facts(path: Path) -> dict[str, Any]:
    """family/scale of the target when its config is readable here (a hub id offline: unknown)."""
    from saerl.models.loading import model_facts

    try:
        return dict(model_facts(path))
    except Exception:
        return {}


def log_step0(
    run_dir: Path, config: dict[str, Any], params: dict[str, Any], cond: dict[str, Any], eval0: Any
) -> None:
    """The eval0 node's metrics as the run's step 0, in metrics.jsonl and in its W&B run."""
    from saerl.configlib import flat_dict
    from saerl.rl.run import wandb_id
    from saerl.tracking import Tracker

    rl = params["rl"]
    metrics = json.loads((eval0.path / "metrics.json").read_text())
    tracker = Tracker(
        run_dir,
        {**flat_dict(config), **cond},
        mode=rl.wandb,
        project=rl.wandb_project,
        group=config["name"],
        name=params["name"],
        run_id=wandb_id(config, params["name"]),
    )
    tracker.log(0, metrics)
    tracker.finish()


def audit_order(spec: LaunchSpec, prompts_per_step: int) -> dict[str, Any]:
    from saerl.rl.openrlhf.order import audit
    from saerl.store import atomic_write_text

    result = audit(Path(spec.env["SAERL_ORDER_LOG"]), Path(spec.paths.prompts), prompts_per_step)
    atomic_write_text(spec.run_dir / FOLDER / "order_audit.json", json.dumps(result, indent=1))
    return result


def environment(prefix: str) -> tuple[str, str]:
    """(python, ray) of the OpenRLHF environment ('': the one running this process)."""
    import sys

    bin_dir = Path(os.path.expandvars(prefix)).expanduser() / "bin" if prefix else Path(sys.executable).parent
    return str(bin_dir / "python"), str(bin_dir / "ray")


def execute(params: dict[str, Any], inputs: dict[str, Any] | None, task: Any, env_prefix: str = "") -> str:
    """This task's part of an OpenRLHF run job (``inputs``: the run node's artifacts, rank 0 only)."""
    from saerl.rl.openrlhf.ray_cluster import RayNodeOptions, abort_workers, release_workers, run_ray_job
    from saerl.rl.run import check_recorded, run_lock, status, wandb_id

    config = params["config"]
    python, ray_bin = environment(env_prefix)
    if task.rank > 0:
        return run_ray_job(task, [], RayNodeOptions(ray_bin=ray_bin))
    assert inputs is not None
    spec = launch_spec(params, str(inputs["target"].path), wandb_id(config, params["name"]))
    try:
        check_recorded(spec.run_dir, config, params["defaults"])
        if status(spec.run_dir)["state"] == "done":
            release_workers(task)
            return f"{spec.run_dir}: already done"
        with run_lock(spec.run_dir):
            return _train(spec, params, inputs, task, python, ray_bin)
    except BaseException as exc:
        if not (task.rendezvous / "done.json").exists():  # failed before Ray: release the workers
            abort_workers(task, f"{type(exc).__name__}: {exc}")
        raise


def _train(
    spec: LaunchSpec, params: dict[str, Any], inputs: dict[str, Any], task: Any, python: str, ray_bin: str
) -> str:
    """Rank 0 under the run's lock: prepare, the Ray job with OpenRLHF, the order audit."""
    from saerl.rl.openrlhf.ray_cluster import RayNodeOptions, run_ray_job
    from saerl.rl.run import _set_status, requeue_requested

    try:
        prepare(spec, params, inputs, python)
        run_ray_job(task, spec.driver(python), RayNodeOptions(ray_bin=ray_bin, env=spec.env))
        audit = audit_order(spec, params["config"]["curriculum"]["batch_size"])
    except SystemExit:
        if spec.run_dir.exists():
            requeued = requeue_requested()  # preempted: OpenRLHF resumes from its checkpoint
            _set_status(
                spec.run_dir,
                **({"state": "requeued"} if requeued else {"state": "failed", "error": "SystemExit"}),
            )
        raise
    except BaseException as exc:
        if spec.run_dir.exists():
            _set_status(spec.run_dir, state="failed", error=f"{type(exc).__name__}: {exc}")
        raise
    _set_status(spec.run_dir, state="done", order_kept=audit["in_order"])
    return f"{spec.run_dir}: done (order kept: {audit['in_order']})"
