"""A Ray worker_process_setup_hook for the tests: records every call that probes CUDA (with the
CUDA_VISIBLE_DEVICES of the moment), then runs saerl's order hook and records what it imported."""

import os
import sys

import torch

PROBES: list[tuple[str, str | None]] = []
AFTER_HOOK: dict[str, object] = {}


def _spy(owner, name: str) -> None:
    original = getattr(owner, name)

    def probe(*args, **kwargs):
        PROBES.append((name, os.environ.get("CUDA_VISIBLE_DEVICES")))
        return original(*args, **kwargs)

    setattr(owner, name, probe)


def hook() -> None:
    for name in ("is_available", "device_count", "init", "set_device", "current_device"):
        _spy(torch.cuda, name)
    from saerl.rl.openrlhf.order import install

    install()
    AFTER_HOOK.update(
        probes=list(PROBES),
        modules=sorted(
            m for m in sys.modules if m == "deepspeed" or m.startswith(("deepspeed.", "openrlhf"))
        ),
        cuda_initialized=torch.cuda.is_initialized(),
    )


def actor_report() -> dict:
    """Runs inside a GPU actor: what the setup hook did, then OpenRLHF's own import and dataloader."""
    before = dict(AFTER_HOOK)
    narrowed = os.environ.get("CUDA_VISIBLE_DEVICES")
    from openrlhf.datasets import PromptDataset  # what OpenRLHF's trainer imports, in this order
    from openrlhf.utils.deepspeed import DeepspeedStrategy

    ids = [f"q{i:02d}" for i in range(32)]
    prompts = DeepspeedStrategy().setup_dataloader(PromptDataset(ids), 1, True, True)
    other = DeepspeedStrategy().setup_dataloader(list(ids), 1, True, True)  # not prompts: left alone
    return {
        "after_hook": before,
        "narrowed": narrowed,
        "deepspeed_now": "deepspeed" in sys.modules,
        "probes_after_import": PROBES[len(before["probes"]) :],
        "prompt_order_kept": prompts == ids,
        "other_loader_shuffled": other != ids and sorted(other) == ids,
    }


class Probe:
    def report(self) -> dict:
        return actor_report()
