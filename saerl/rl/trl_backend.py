"""The local RL backend: TRL's GRPOTrainer (GRPO or DAPO loss) consuming the curriculum in order.

Order: the dataset is the curriculum's rows in training order and `shuffle_dataset=False`, so TRL's
RepeatSampler yields each prompt `num_generations` times in dataset order; with
per_device_train_batch_size x grad_accum = B x G, every optimizer step consumes exactly one
curriculum batch. The reward function appends the ids it scored at each step to order.jsonl, an
audit the tests compare with the curriculum. Resume uses TRL's checkpoints, which skip the batches
already consumed, so a resumed run continues the same stream.

Three pieces: ``grpo_args`` (pure: the GRPOConfig arguments, golden-tested), ``curriculum_dataset``
(the table as TRL's prompt dataset) and ``train_grpo`` (wires them with the reward and the
evaluation callback of ``saerl.rl.callbacks``).
"""

from __future__ import annotations

import ast
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from saerl.data.records import Record
from saerl.rl.config import RLConfig
from saerl.rl.reward import make_reward
from saerl.tracking import Tracker

log = logging.getLogger(__name__)

DAPO_EPSILON_HIGH = 0.28  # DAPO's clip-higher (Yu et al., 2025)
TRL_LOSS = {"grpo": "grpo", "grpo_token_mean": "dapo", "dapo": "dapo"}
"""rl.algorithm -> TRL's loss_type ('dapo' is TRL's name for the token-level normalisation)."""


class OrderError(ValueError):
    """The trainer would not consume exactly one curriculum batch per optimizer step."""


def batch_geometry(cfg: RLConfig, prompts_per_batch: int) -> tuple[int, int]:
    """(per_device_train_batch_size, gradient_accumulation_steps) so one step = one curriculum batch."""
    completions = prompts_per_batch * cfg.num_generations
    accum = cfg.gradient_accumulation_steps
    per_device = cfg.completions_per_device or completions // accum
    if per_device * accum != completions:
        raise OrderError(
            f"rl: {per_device} completions per device x {accum} accumulation steps / "
            f"{cfg.num_generations} generations = {per_device * accum / cfg.num_generations:g} prompts per "
            f"step, but the curriculum's batch size B is {prompts_per_batch}; "
            f"set rl.completions_per_device to {completions // accum}"
        )
    return per_device, accum


def grpo_args(cfg: RLConfig, output_dir: str, prompts_per_batch: int, on_gpu: bool) -> dict[str, Any]:
    """Keyword arguments of TRL's GRPOConfig for one run: one optimizer step per curriculum batch,
    no shuffling, no TRL-side logging or progress bars (saerl tracks and shows progress itself)."""
    per_device, accum = batch_geometry(cfg, prompts_per_batch)
    return {
        "output_dir": output_dir,
        "per_device_train_batch_size": per_device,
        "gradient_accumulation_steps": accum,
        "num_generations": cfg.num_generations,
        "max_completion_length": cfg.max_completion_length,
        "temperature": cfg.temperature,
        "shuffle_dataset": False,
        "learning_rate": cfg.lr,
        "lr_scheduler_type": "constant_with_warmup" if cfg.warmup_steps else "constant",
        "warmup_steps": cfg.warmup_steps,
        "optim": cfg.optim,
        "adam_epsilon": cfg.adam_epsilon,
        "adam_beta2": cfg.adam_beta2,
        "beta": cfg.kl_coef,
        "loss_type": TRL_LOSS[cfg.algorithm],
        "epsilon_high": DAPO_EPSILON_HIGH if cfg.algorithm == "dapo" else 0.2,
        "num_iterations": cfg.updates_per_batch,
        "max_steps": cfg.steps * cfg.updates_per_batch,  # TRL counts optimizer updates
        "logging_steps": 1,
        "save_strategy": "steps",
        "save_steps": cfg.save_every * cfg.updates_per_batch,
        "report_to": [],
        "seed": cfg.seed,
        "data_seed": cfg.seed,
        "bf16": on_gpu,
        "use_cpu": not on_gpu,
        "disable_tqdm": True,
    }


def curriculum_dataset(curriculum: Any, instruction: str = "") -> Any:
    """The curriculum table (in training order) as TRL's conversational prompt dataset."""
    from datasets import Dataset

    from saerl.data.records import instructed

    rows = curriculum.to_pydict()
    return Dataset.from_dict(
        {
            "prompt": [[{"role": "user", "content": instructed(p, instruction)}] for p in rows["prompt"]],
            "answer": rows["answer"],
            "id": rows["id"],
        }
    )


def first_batch_size(curriculum: Any) -> int:
    return int(sum(1 for b in curriculum.column("batch").to_pylist() if b == 0))


def audited_reward(
    reward: Callable[..., list[float]], log_path: Path, updates_per_batch: int = 1
) -> Callable[..., list[float]]:
    """Wrap a TRL reward function to append {step, ids} (each id once, in order) per call; step is
    the curriculum batch (TRL's global step / updates per batch)."""

    def wrapped(
        prompts: Any, completions: Any, id: list[str], trainer_state: Any = None, **kw: Any
    ) -> list[float]:
        seen = list(dict.fromkeys(id))
        step = int(trainer_state.global_step) // updates_per_batch if trainer_state is not None else -1
        with log_path.open("a") as fh:
            fh.write(json.dumps({"step": step, "ids": seen}) + "\n")
        return reward(prompts, completions, trainer_state=trainer_state, **kw)

    wrapped.__name__ = reward.__name__
    return wrapped


def rollout_stops(model_path: str, tokenizer: Any) -> dict[str, Any] | None:
    """TRL stops rollouts at the model's generation-config EOS and the tokenizer's EOS; a base model's
    chat turn end (Qwen2.5's <|im_end|>) is neither, so it is added (None: nothing to add)."""
    from saerl.models.generation import stop_rule

    rule = stop_rule(model_path, tokenizer)
    return {"eos_token_id": rule.ids} if len(rule.ids) > 1 else None


def train_grpo(
    cfg: RLConfig,
    run_dir: Path,
    model_path: str,
    tokenizer: Any,
    curriculum: Any,
    evals: dict[str, list[Record]],
    grader_kind: str,
    tracker: Tracker,
    device: str,
) -> dict[str, float]:
    """Run GRPO/DAPO; returns the final eval metrics. ``curriculum`` is the parquet table, in order."""
    import torch
    from trl import GRPOConfig, GRPOTrainer

    from saerl.data.grading import get_grader
    from saerl.rl.callbacks import EvalCallback

    args = GRPOConfig(
        **grpo_args(
            cfg, str(run_dir / "checkpoints"), first_batch_size(curriculum), device.startswith("cuda")
        ),
        generation_kwargs=rollout_stops(model_path, tokenizer),
    )
    rewards: list[Any] = [
        audited_reward(make_reward(grader_kind), run_dir / "order.jsonl", cfg.updates_per_batch)
    ]
    if cfg.overlong_buffer:
        from trl.rewards import get_soft_overlong_punishment

        rewards.append(get_soft_overlong_punishment(cfg.max_completion_length, cfg.overlong_buffer))
    track = EvalCallback(cfg, tokenizer, evals, get_grader(grader_kind), tracker, desc=run_dir.name)
    torch.manual_seed(cfg.seed)
    trainer = GRPOTrainer(
        model=model_path,
        reward_funcs=rewards,
        args=args,
        train_dataset=curriculum_dataset(curriculum, cfg.instruction),
        processing_class=tokenizer,
        callbacks=[track],
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # it prints every log dict; the progress bar shows them
    quiet = TiedKeysOnResume(trainer.model)
    trainer_log = logging.getLogger("transformers.trainer")
    trainer_log.addFilter(quiet)
    try:
        trainer.train(resume_from_checkpoint=last_checkpoint(run_dir))
    finally:
        trainer_log.removeFilter(quiet)
        track.close()
    return track.last


class TiedKeysOnResume(logging.Filter):
    """On resume, transformers warns that tied weights (lm_head.weight, tied to the input
    embeddings, which checkpoints store once) are "missing keys"; they are restored from the
    embeddings. That warning is dropped and one plain line says so; any other missing key is
    still reported."""

    PREFIX = "There were missing keys in the checkpoint model loaded: "

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.tied = set(
            getattr(model, "all_tied_weights_keys", None) or getattr(model, "_tied_weights_keys", None) or {}
        )

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not message.startswith(self.PREFIX):
            return True
        try:
            keys = set(ast.literal_eval(message[len(self.PREFIX) :].rstrip(".")))
        except (ValueError, SyntaxError):
            return True
        if not keys or not keys <= self.tied:
            return True
        log.info(
            "resuming: %s tied to the input embeddings, restored from them (expected)",
            ", ".join(sorted(keys)),
        )
        return False


CHECKPOINT_FILES = ("trainer_state.json", "optimizer.pt", "scheduler.pt")
"""What a resume reads besides the weights; a kill while saving leaves some missing or empty."""


def checkpoint_problem(ckpt: Path) -> str | None:
    """None if ``ckpt`` can be resumed from, else what is missing or torn."""
    for name in CHECKPOINT_FILES:
        f = ckpt / name
        if not f.is_file() or f.stat().st_size == 0:
            return f"{name} missing or empty"
    weights = [w for w in ckpt.glob("*.safetensors") if w.stat().st_size > 0]
    if not weights:
        return "no model weights"
    try:
        state = json.loads((ckpt / "trainer_state.json").read_text())
    except json.JSONDecodeError:
        return "trainer_state.json is not valid JSON"
    if state.get("global_step") != int(ckpt.name.split("-")[1]):  # the name is TRL's global step
        return f"trainer_state.json is at step {state.get('global_step')}"
    return None


def last_checkpoint(run_dir: Path) -> str | None:
    """The newest complete checkpoint. Torn ones (a kill while saving) are moved aside to
    ``broken-checkpoint-N-<time>`` with a warning, so the run resumes from the one before."""
    ckpts = sorted((run_dir / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    for ckpt in reversed(ckpts):
        problem = checkpoint_problem(ckpt)
        if problem is None:
            return str(ckpt)
        aside = ckpt.with_name(f"broken-{ckpt.name}-{int(time.time())}")
        log.warning("%s is incomplete (%s); moved to %s, resuming from the one before", ckpt, problem, aside)
        os.rename(ckpt, aside)
    return None
