"""The OpenRLHF 0.11.2 backend's command line: rendered from saerl's config by a pure function,
checked against the rules OpenRLHF asserts only after Ray has started, and parsed by OpenRLHF's own
argument parser in the tests.

OpenRLHF runs in its own environment on the cluster (its pins: ray 2.55, vllm 0.29, deepspeed,
flash-attn), never in saerl's. Its parser is built under ``if __name__ == "__main__":`` of
``openrlhf/cli/train_ppo_ray.py``, behind ray/vllm imports: ``parser_from_wheel`` reads that file
from the wheel with ``ast`` and executes only the argparse statements, which yields the real parser
without installing OpenRLHF.

Order: OpenRLHF consumes ``rollout.batch_size`` prompts per step from a dataloader that always
shuffles; the curriculum is exported with exactly ``rl.steps`` x B prompts (the stream is fitted to
the run), and keeping its order in the workers is the job of a Ray worker setup hook (not in this
release). Dynamic filtering refills rejected groups with later prompts, so it stays off unless
asked for (``rl.openrlhf.dynamic_filtering``), and then batches drift off the curriculum.
"""

from __future__ import annotations

import argparse
import ast
import functools
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from saerl.rl.config import OpenRLHFConfig, RLConfig

VERSION = "0.11.2"
ENTRY = "openrlhf/cli/train_ppo_ray.py"
DAPO_EPS = (0.2, 0.28)  # DAPO's clip-low / clip-higher (Yu et al., 2025)
WANDB_KEY_PLACEHOLDER = "from-env:WANDB_API_KEY"
"""The value of --logger.wandb.key: it only has to be non-empty (see render_command)."""


class CommandError(ValueError):
    """A command line OpenRLHF would reject (or silently mis-run), naming the flag."""


class RunPaths(NamedTuple):
    """Where one run's files are on the cluster's shared filesystem (absolute)."""

    model: str
    prompts: str
    """The curriculum exported in OpenRLHF's prompt format (jsonl, in training order)."""
    evals: str
    """The eval sets, one jsonl with a datasource column per set."""
    reward: str
    """A python file defining reward_func(queries, prompts, labels)."""
    ckpt: str
    """The run's checkpoint folder (resume loads from it)."""
    output: str = ""
    """Where the trained model is saved at the end ('': <ckpt>/final; OpenRLHF's default is ./ckpt,
    relative to wherever the job started)."""


def render_command(
    rl: RLConfig, prompts_per_step: int, paths: RunPaths, wandb_group: str = "", run_name: str = ""
) -> list[str]:
    """argv of ``python -m openrlhf.cli.train_ppo_ray`` for one run (pure)."""
    o = rl.openrlhf
    steps = rl.steps
    argv = [
        *("--actor.model_name_or_path", paths.model),
        *("--actor.num_nodes", str(o.num_nodes), "--actor.num_gpus_per_node", str(o.gpus_per_node)),
        *(
            "--vllm.num_engines",
            str(o.vllm_engines),
            "--vllm.tensor_parallel_size",
            str(o.vllm_tensor_parallel),
        ),
        *("--vllm.gpu_memory_utilization", f"{o.vllm_gpu_memory_utilization:g}"),
        *("--ds.zero_stage", str(o.zero_stage), "--ds.param_dtype", "bf16"),
        *("--data.prompt_dataset", paths.prompts, "--data.input_key", "prompt", "--data.label_key", "label"),
        "--data.apply_chat_template",
        *("--data.max_len", str(o.prompt_max_len + rl.max_completion_length)),
        *(
            "--rollout.batch_size",
            str(prompts_per_step),
            "--rollout.n_samples_per_prompt",
            str(rl.num_generations),
        ),
        *(
            "--rollout.max_new_tokens",
            str(rl.max_completion_length),
            "--rollout.temperature",
            f"{rl.temperature:g}",
        ),
        *("--rollout.micro_batch_size", str(o.micro_rollout_batch_size)),
        # One optimizer step per epoch over the batch's samples; epochs = updates per batch (mu).
        *("--train.batch_size", str(prompts_per_step * rl.num_generations)),
        *("--train.micro_batch_size", str(o.micro_train_batch_size)),
        *("--train.max_epochs", str(rl.updates_per_batch), "--train.num_episodes", "1"),
        *("--train.seed", str(rl.seed)),
        *("--algo.advantage.estimator", "group_norm"),
        *("--actor.adam.lr", f"{rl.lr:g}", "--actor.lr_scheduler", "constant_with_warmup"),
        *("--actor.lr_warmup_ratio", f"{rl.warmup_steps / steps:g}"),
        *("--reward.remote_url", paths.reward),
        *("--eval.dataset", paths.evals, "--eval.steps", str(rl.eval_every)),
        *("--eval.temperature", "0", "--eval.n_samples_per_prompt", "1"),  # greedy, like the local backend
        *("--ckpt.path", paths.ckpt, "--ckpt.save_steps", str(rl.save_every), "--ckpt.load_enable"),
        *("--ckpt.max_num", str(o.keep_checkpoints)),
        *("--ckpt.best_metric_key", o.best_checkpoint_metric or "none"),
        *("--ckpt.output_dir", paths.output or f"{paths.ckpt}/final"),
    ]
    if rl.algorithm == "dapo":
        argv += [
            "--actor.eps_clip_low_high",
            *(f"{e:g}" for e in DAPO_EPS),
            "--actor.loss_agg_mode",
            "token-mean",
        ]
    elif rl.algorithm == "grpo_token_mean":
        argv += ["--actor.loss_agg_mode", "token-mean"]
    else:
        argv += ["--actor.loss_agg_mode", "seq-mean-token-mean"]
    if rl.kl_coef > 0:
        argv += ["--algo.kl.use_loss", "--algo.kl.estimator", "k3", "--algo.kl.init_coef", f"{rl.kl_coef:g}"]
        # The reference model shares the actor's GPUs: OpenRLHF asserts the same placement when
        # colocating, and its own defaults (1 node x 8 GPUs) match no other actor placement.
        argv += ["--ref.num_nodes", str(o.num_nodes), "--ref.num_gpus_per_node", str(o.gpus_per_node)]
        if not o.colocate_all:
            argv.append("--train.colocate_actor_ref")
    else:
        argv += ["--algo.kl.init_coef", "0"]
    if rl.overlong_buffer:
        argv += ["--reward.overlong_buffer_len", str(rl.overlong_buffer)]
    if o.colocate_all:
        argv += ["--train.colocate_all", "--vllm.enable_sleep", "--ds.enable_sleep"]
    if o.gradient_checkpointing:
        argv.append("--actor.gradient_checkpointing_enable")
    if o.dynamic_filtering:
        argv += ["--algo.dynamic_filtering_enable"]
    if rl.wandb != "disabled":
        # OpenRLHF turns W&B on iff --logger.wandb.key is non-empty, prints every argument and hands
        # them all to wandb.init(config=...): the value is a placeholder, never the key. wandb reads
        # the key itself from WANDB_API_KEY (OpenRLHF calls wandb.login only when wandb has none).
        argv += ["--logger.wandb.key", WANDB_KEY_PLACEHOLDER, "--logger.wandb.project", rl.wandb_project]
        argv += ["--logger.wandb.group", wandb_group or "saerl", "--logger.wandb.run_name", run_name or "run"]
    return argv + list(o.extra_args)


def check_command(rl: RLConfig, prompts_per_step: int) -> None:
    """The rules OpenRLHF asserts (or silently breaks on) only after Ray and the models have started,
    checked before anything is submitted; each message names the saerl key and the rule."""
    o = rl.openrlhf
    world = o.num_nodes * o.gpus_per_node
    samples = prompts_per_step * rl.num_generations
    if rl.num_generations < 2:
        raise CommandError("--algo.advantage.estimator group_norm needs --rollout.n_samples_per_prompt > 1")
    if samples % (o.micro_train_batch_size * world):
        raise CommandError(
            f"--train.batch_size {samples} (B x n) must be a multiple of --train.micro_batch_size "
            f"{o.micro_train_batch_size} x {world} actor GPUs"
        )
    if (batches := samples // o.micro_rollout_batch_size) < world:
        raise CommandError(
            f"n x --rollout.batch_size / --rollout.micro_batch_size = {batches} "
            f"must be >= the {world} actor GPUs (OpenRLHF asserts it)"
        )
    if samples % (o.micro_rollout_batch_size * world):
        micro = -(-samples // o.micro_rollout_batch_size)
        per_rank = -(-micro // world)  # OpenRLHF's async_run_method_batch: ceil-sized chunks in rank order
        shares = [min(per_rank, max(0, micro - r * per_rank)) for r in range(world)]
        last = samples - (micro - 1) * o.micro_rollout_batch_size
        raise CommandError(
            f"rl.openrlhf.micro_rollout_batch_size={o.micro_rollout_batch_size}: the {samples} samples of a "
            f"step (B x n) make {micro} micro-batches (the last of {last}), "
            f"dealt to the {world} actor GPUs as {', '.join(map(str, shares))}: ranks with unequal shares "
            f"wait on each other's DeepSpeed collectives forever. B x n must be a multiple of "
            f"micro_rollout_batch_size x {world} GPUs (= {o.micro_rollout_batch_size * world})"
        )
    if o.colocate_all and o.vllm_engines * o.vllm_tensor_parallel != world:
        raise CommandError(
            f"--train.colocate_all: --vllm.num_engines {o.vllm_engines} x --vllm.tensor_parallel_size "
            f"{o.vllm_tensor_parallel} must equal the actor's {world} GPUs"
        )
    if not o.colocate_all:
        vllm = o.vllm_engines * o.vllm_tensor_parallel
        raise CommandError(
            f"rl.openrlhf.colocate_all=false: the actor takes the job's {o.num_nodes} x {o.gpus_per_node} "
            f"GPUs and the vLLM engines {o.vllm_engines} x {o.vllm_tensor_parallel} = {vllm} more "
            f"({world + vllm} in all), but the job has {world}: Ray's placement group would wait for "
            "them until the time limit. Keep colocate_all=true (actor, reference and vLLM take turns "
            "on the job's GPUs)"
        )
    if o.dynamic_filtering:
        raise CommandError(
            f"rl.openrlhf.dynamic_filtering: OpenRLHF refills every all-correct or all-wrong group with "
            f"the next prompts, but the run's prompt file holds exactly rl.steps x B = "
            f"{rl.steps * prompts_per_step} prompts (the curriculum is fitted to the run): it would run "
            "out of prompts before the last step and train a partial last batch. Not supported: the "
            "curriculum has no reserve of prompts in order"
        )
    if rl.save_every > rl.steps or rl.eval_every > rl.steps:
        raise CommandError(f"--ckpt.save_steps / --eval.steps larger than the run's {rl.steps} steps")


def parser_from_source(source: str) -> argparse.ArgumentParser:
    """OpenRLHF's own parser: the statements of its ``__main__`` block up to ``parse_args()``."""
    tree = ast.parse(source)
    main = next((n for n in tree.body if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test)), None)
    if main is None:
        raise ValueError(f"{ENTRY}: no __main__ block")
    body = []
    for stmt in main.body:
        if isinstance(stmt, ast.Assign) and "parse_args" in ast.unparse(stmt.value):
            break
        body.append(stmt)
    namespace: dict[str, Any] = {"argparse": argparse, "datetime": datetime}
    exec(compile(ast.Module(body=body, type_ignores=[]), ENTRY, "exec"), namespace)
    parser: argparse.ArgumentParser = namespace["parser"]
    return parser


@functools.cache
def parser_from_wheel(wheel: Path) -> argparse.ArgumentParser:
    with zipfile.ZipFile(wheel) as zf:
        name = next((n for n in zf.namelist() if n.endswith(ENTRY)), None)
        if name is None:
            raise ValueError(f"{wheel}: no {ENTRY} inside")
        return parser_from_source(zf.read(name).decode())


__all__ = [
    "CommandError",
    "OpenRLHFConfig",
    "RunPaths",
    "check_command",
    "parser_from_wheel",
    "render_command",
]
