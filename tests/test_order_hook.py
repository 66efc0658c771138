"""The order hook in real Ray workers (Ray 2.55, OpenRLHF's pin; fake GPU resources): it must not
import deepspeed or probe CUDA when the worker starts (Ray runs it before narrowing
CUDA_VISIBLE_DEVICES to the actor's GPU), and its patch must still take effect when OpenRLHF's
strategy builds the prompt dataloader inside the actor. OpenRLHF and deepspeed are the stand-ins in
tests/standins (same module paths; deepspeed probes CUDA at import like the real one)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

STANDINS = Path(__file__).parent / "standins"


@pytest.fixture(scope="module")
def ray_with_fake_gpus():
    import sys

    sys.path.insert(0, str(STANDINS))  # to pickle cuda_spy.Probe by reference
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]')")
    path = os.pathsep.join([str(STANDINS), str(Path(__file__).parent.parent)])
    ray.init(
        address="local",  # a fresh cluster of its own, never one another test or job started
        num_cpus=2,
        num_gpus=2,  # fake: Ray hands out ids and sets CUDA_VISIBLE_DEVICES per actor all the same
        include_dashboard=False,
        runtime_env={"worker_process_setup_hook": "cuda_spy.hook", "env_vars": {"PYTHONPATH": path}},
    )
    yield ray
    ray.shutdown()
    sys.path.remove(str(STANDINS))


def test_the_order_hook_touches_neither_deepspeed_nor_cuda_and_still_orders_the_prompts(ray_with_fake_gpus):
    import cuda_spy  # tests/standins, on this process's path too (the fixture puts it there)

    ray = ray_with_fake_gpus
    probe = ray.remote(num_gpus=1)(cuda_spy.Probe).remote()
    out = ray.get(probe.report.remote())
    hook = out["after_hook"]
    assert hook, "the setup hook did not run in the worker"
    assert hook["probes"] == [], f"CUDA probed while the worker started: {hook['probes']}"
    assert hook["modules"] == [], f"the hook imported {hook['modules']}"
    assert hook["cuda_initialized"] is False
    # Inside the actor, OpenRLHF's import probes CUDA only now, with the devices narrowed to its GPU.
    assert out["deepspeed_now"] and out["narrowed"] in ("0", "1")
    assert out["probes_after_import"] and all(v == out["narrowed"] for _, v in out["probes_after_import"])
    assert out["prompt_order_kept"], "the patch did not reach OpenRLHF's prompt dataloader"
    assert out["other_loader_shuffled"], "the patch must leave other dataloaders alone"


def test_the_order_hook_patches_at_once_when_openrlhf_is_already_imported(monkeypatch):
    """A worker that imported the strategy before the hook ran (a reused process) is patched too."""
    import sys

    from saerl.rl.openrlhf.order import MARK, patch_after_import, sequential_openrlhf

    monkeypatch.syspath_prepend(str(STANDINS))
    for name in [m for m in sys.modules if m.startswith(("openrlhf", "deepspeed"))]:
        monkeypatch.delitem(sys.modules, name)
    import openrlhf.utils.deepspeed.deepspeed as module

    patch_after_import("openrlhf.utils.deepspeed.deepspeed", sequential_openrlhf)
    assert getattr(module.DeepspeedStrategy.setup_dataloader, MARK)
    for name in [m for m in sys.modules if m.startswith(("openrlhf", "deepspeed"))]:
        monkeypatch.delitem(sys.modules, name)
