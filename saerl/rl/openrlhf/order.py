"""Keeping the curriculum's order inside OpenRLHF 0.11.2, and checking afterwards that it was kept.

OpenRLHF's trainer (the ``PPOTrainer`` Ray actor) builds its prompt dataloader with
``strategy.setup_dataloader(prompts_dataset, 1, True, True, ...)``: the fourth argument is
``shuffle``, always True, with no flag. :func:`install` is the Ray ``worker_process_setup_hook``
the driver (``saerl.rl.openrlhf.driver``) sets: in every Ray worker it arranges for
``DeepspeedStrategy.setup_dataloader`` to build a dataloader over OpenRLHF's ``PromptDataset``
with ``shuffle=False`` (the training prompts, and the eval prompts, which OpenRLHF already reads in
order). Every other dataloader (the replay buffer's mini-batches within a step) is left alone:
shuffling inside a step does not change which prompts a step trains on. Resuming keeps the order:
OpenRLHF restores the dataloader's position from its checkpoint.

The hook imports nothing of OpenRLHF. Ray runs it when a worker process starts, before the actor's
task narrows ``CUDA_VISIBLE_DEVICES`` to its GPU; importing ``openrlhf.utils.deepspeed`` there would
import ``deepspeed``, whose module-level accelerator probe calls ``torch.cuda.is_available()`` and
fixes the device list with every GPU of the node visible, so every rank would train on GPU 0
(OpenRLHF's own ``trainer/ray/__init__.py`` avoids that import for the same reason). The hook only
puts an import finder on ``sys.meta_path`` that patches the strategy's module right after OpenRLHF
itself imports it, inside the actor, with the devices already narrowed.

Dynamic filtering (``rl.openrlhf.dynamic_filtering``) refills rejected groups with later prompts,
so steps drift off the curriculum's batches; it is off by default. :func:`audit` measures the
drift (or its absence) from the ids that ``saerl.rl.openrlhf.reward`` logs as it scores.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.util
import inspect
import json
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

MARK = "__saerl_sequential__"
EVAL_PREFIX = "eval:"
"""Ids of eval prompts in OpenRLHF labels start with it, so the order audit can leave them out."""


class OrderHookError(RuntimeError):
    """OpenRLHF is missing or its dataloader API is not the one this hook was written against."""


def sequential_prompts(strategy_cls: type, prompt_dataset_cls: type | Callable[[], type]) -> None:
    """Wrap ``strategy_cls.setup_dataloader`` so datasets of ``prompt_dataset_cls`` are not shuffled
    (idempotent). ``prompt_dataset_cls`` may be a function returning the class, called when the
    first dataloader is built (so patching imports nothing)."""
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
        cls = prompt_dataset_cls if isinstance(prompt_dataset_cls, type) else prompt_dataset_cls()
        if isinstance(bound.arguments.get(dataset_arg), cls):
            bound.arguments["shuffle"] = False
        return original(*bound.args, **bound.kwargs)

    setattr(setup_dataloader, MARK, True)
    strategy_cls.setup_dataloader = setup_dataloader  # type: ignore[attr-defined]


STRATEGY_MODULE = "openrlhf.utils.deepspeed.deepspeed"
"""Where OpenRLHF 0.11.2 defines ``DeepspeedStrategy`` (imported by ``openrlhf.utils.deepspeed``)."""


def sequential_openrlhf(module: ModuleType) -> None:
    """Patch OpenRLHF's strategy module (``STRATEGY_MODULE``) once it has been executed."""
    strategy_cls = getattr(module, "DeepspeedStrategy", None)
    if strategy_cls is None:
        raise OrderHookError(
            f"{module.__name__} defines no DeepspeedStrategy: OpenRLHF changed its layout and the "
            "curriculum order cannot be kept"
        )
    sequential_prompts(strategy_cls, _openrlhf_prompt_dataset)


def _openrlhf_prompt_dataset() -> type:
    """OpenRLHF's PromptDataset, imported when the first dataloader is built (OpenRLHF's trainer has
    imported it by then)."""
    from openrlhf.datasets import PromptDataset

    return PromptDataset  # type: ignore[no-any-return]


class _PatchAfterImport(importlib.abc.MetaPathFinder):
    """Finds ``name`` with the other finders and runs ``patch(module)`` right after the module body."""

    def __init__(self, name: str, patch: Callable[[ModuleType], None]) -> None:
        self.name, self.patch = name, patch

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
                spec.loader = _PatchingLoader(spec.loader, self.patch)
                return spec
        return None


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, loader: Any, patch: Callable[[ModuleType], None]) -> None:
        self.loader, self.patch = loader, patch

    def create_module(self, spec: Any) -> ModuleType | None:
        return self.loader.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        self.patch(module)


def patch_after_import(name: str, patch: Callable[[ModuleType], None]) -> None:
    """``patch(module)`` now if ``name`` is imported already, else right after it is (idempotent)."""
    if name in sys.modules:
        patch(sys.modules[name])
        return
    if not any(isinstance(f, _PatchAfterImport) and f.name == name for f in sys.meta_path):
        sys.meta_path.insert(0, _PatchAfterImport(name, patch))


def install() -> None:
    """Ray ``worker_process_setup_hook``: OpenRLHF's prompt dataloaders will read in order. Imports
    nothing of OpenRLHF (and so neither deepspeed nor CUDA): see the module docstring."""
    if importlib.util.find_spec("openrlhf") is None:  # finds the package without running it
        raise OrderHookError(
            "saerl's order hook needs OpenRLHF in the Ray workers' environment: no module named 'openrlhf'"
        )
    patch_after_import(STRATEGY_MODULE, sequential_openrlhf)


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
