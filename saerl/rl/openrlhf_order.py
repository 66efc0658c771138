"""Keeping the curriculum's order inside OpenRLHF 0.11.2, and checking afterwards that it was kept.

OpenRLHF's trainer (the ``PPOTrainer`` Ray actor) builds its prompt dataloader with
``strategy.setup_dataloader(prompts_dataset, 1, True, True, ...)``: the fourth argument is
``shuffle``, always True, with no flag. :func:`install` is the Ray ``worker_process_setup_hook``
the driver (``saerl.rl.openrlhf_driver``) sets: in every Ray worker it wraps
``DeepspeedStrategy.setup_dataloader`` so that a dataloader over OpenRLHF's ``PromptDataset`` is
built with ``shuffle=False`` (the training prompts, and the eval prompts, which OpenRLHF already
reads in order). Every other dataloader (the replay buffer's mini-batches within a step) is left
alone: shuffling inside a step does not change which prompts a step trains on. Resuming keeps the
order: OpenRLHF restores the dataloader's position from its checkpoint.

Dynamic filtering (``rl.openrlhf.dynamic_filtering``) refills rejected groups with later prompts,
so steps drift off the curriculum's batches; it is off by default. :func:`audit` measures the
drift (or its absence) from the ids that ``saerl.rl.openrlhf_reward`` logs as it scores.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

MARK = "__saerl_sequential__"
EVAL_PREFIX = "eval:"
"""Ids of eval prompts in OpenRLHF labels start with it, so the order audit can leave them out."""


class OrderHookError(RuntimeError):
    """OpenRLHF is missing or its dataloader API is not the one this hook was written against."""


def sequential_prompts(strategy_cls: type, prompt_dataset_cls: type) -> None:
    """Wrap ``strategy_cls.setup_dataloader`` so datasets of ``prompt_dataset_cls`` are not shuffled
    (idempotent)."""
    original: Callable[..., Any] = strategy_cls.setup_dataloader  # type: ignore[attr-defined]
    if getattr(original, MARK, False):
        return
    sig = inspect.signature(original)
    names = list(sig.parameters)
    if len(names) < 2 or "shuffle" not in sig.parameters:
        raise OrderHookError(
            f"{strategy_cls.__name__}.setup_dataloader{sig}: expected (self, dataset, ..., shuffle, ...); "
            "OpenRLHF changed its dataloader API and the curriculum order cannot be kept"
        )
    dataset_arg = names[1]

    @functools.wraps(original)
    def setup_dataloader(*args: Any, **kwargs: Any) -> Any:
        bound = sig.bind(*args, **kwargs)
        if isinstance(bound.arguments.get(dataset_arg), prompt_dataset_cls):
            bound.arguments["shuffle"] = False
        return original(*bound.args, **bound.kwargs)

    setattr(setup_dataloader, MARK, True)
    strategy_cls.setup_dataloader = setup_dataloader  # type: ignore[attr-defined]


def install() -> None:
    """Ray ``worker_process_setup_hook``: OpenRLHF's prompt dataloaders read in order."""
    try:
        from openrlhf.datasets import PromptDataset
        from openrlhf.utils.deepspeed import DeepspeedStrategy
    except ImportError as exc:
        raise OrderHookError(
            f"saerl's order hook needs OpenRLHF in the Ray workers' environment: {exc}"
        ) from exc
    sequential_prompts(DeepspeedStrategy, PromptDataset)


def read_order_logs(base: Path) -> list[str]:
    """Ids scored by ``reward_func`` (files ``<base>.<pid>``), in time order across processes."""
    calls = []
    for path in sorted(base.parent.glob(base.name + ".*")):
        lines = path.read_text(errors="replace").splitlines()
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                calls.append((float(rec["time"]), path.name, n, [str(i) for i in rec["ids"]]))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                if n == len(lines):  # a process killed mid-append (a requeue): its last line is torn
                    break
                raise ValueError(f"{path}:{n}: not an order log line") from None
    calls.sort()
    seen: list[str] = []
    for *_, ids in calls:  # eval prompts (ids "eval:<set>:<id>") are not the curriculum's
        seen.extend(i for i in ids if i and not i.startswith(EVAL_PREFIX))
    return seen


def audit(order_log: Path, prompts: Path, prompts_per_step: int) -> dict[str, Any]:
    """Compare the prompts the trainer scored with the exported curriculum (``prompts.jsonl``, in
    training order): the step each scored id belongs to in the curriculum vs the step it was seen
    in. ``in_order`` is True when every step's ids are exactly the curriculum's batch."""
    curriculum = []
    for n, line in enumerate(prompts.read_text().splitlines(), 1):
        try:
            curriculum.append(json.loads(json.loads(line)["label"])["id"])
        except (json.JSONDecodeError, KeyError, TypeError):
            raise ValueError(f"{prompts}:{n}: not a saerl prompt row") from None
    step_of = {rid: i // prompts_per_step for i, rid in enumerate(curriculum)}
    first_seen: list[str] = []
    seen_set: set[str] = set()
    for rid in read_order_logs(order_log):  # n samples per prompt: keep each id's first score
        if rid not in seen_set:
            seen_set.add(rid)
            first_seen.append(rid)
    unknown = [r for r in first_seen if r not in step_of]
    steps_seen = [i // prompts_per_step for i in range(len(first_seen))]
    off = sum(1 for rid, s in zip(first_seen, steps_seen, strict=True) if step_of.get(rid) != s)
    return {
        "curriculum_prompts": len(curriculum),
        "scored_prompts": len(first_seen),
        "unknown_ids": len(unknown),
        "off_step": off,
        "in_order": off == 0 and not unknown and len(first_seen) > 0,
    }
