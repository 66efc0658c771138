"""The driver of an OpenRLHF run, started by rank 0 of a multi-node job (saerl.rl.openrlhf.ray_cluster):

    python -m saerl.rl.openrlhf.driver [--nodes N] [--entry MODULE] [--setup-hook HOOK] -- <OpenRLHF args>

It initialises Ray itself, connected to the job's cluster (``RAY_ADDRESS``), with

- ``worker_process_setup_hook``: run in every Ray worker process before any task; the default
  (``saerl.rl.openrlhf.order.install``) makes OpenRLHF's prompt dataloader sequential, so the
  curriculum's order survives (OpenRLHF shuffles it otherwise, with no flag to stop it);
- ``env_vars``: the W&B, Hugging Face, cache and saerl variables of this environment, so every
  worker on every node logs and caches where the job does;

waits until the job's N nodes have joined, then runs the entry point (OpenRLHF's
``openrlhf.cli.train_ppo_ray``) as ``__main__`` in this process: OpenRLHF skips its own
``ray.init`` when Ray is already initialised.

The W&B key never appears in an argument, a script, a log or a runtime env: the command carries a
placeholder for ``--logger.wandb.key`` (OpenRLHF only needs it non-empty, and prints and logs every
argument), wandb reads the key from ``WANDB_API_KEY`` in the environment Ray's nodes were started
with, and ``WANDB_API_KEY`` is kept out of the runtime env (Ray records runtime envs in its own
logs). Where W&B cannot log (online without a key in the environment or in ~/.netrc), the
``--logger.wandb.*`` flags are dropped and the run says so in one line.

This module runs in the OpenRLHF environment: it imports only Ray and the standard library.
"""

from __future__ import annotations

import argparse
import logging
import netrc
import os
import runpy
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

log = logging.getLogger(__name__)

ENTRY = "openrlhf.cli.train_ppo_ray"
HOOK = "saerl.rl.openrlhf.order.install"
FORWARDED_PREFIXES = ("WANDB_", "HF_", "HUGGINGFACE_", "TRANSFORMERS_", "VLLM_", "NCCL_", "SAERL_", "TRITON_")
FORWARDED = ("TORCH_HOME", "XDG_CACHE_HOME", "TOKENIZERS_PARALLELISM", "RAY_ENABLE_ZERO_COPY_TORCH_TENSORS")
NOT_FORWARDED = ("WANDB_SERVICE", "WANDB_API_KEY")
"""A W&B service token names a process on the submitting host: never valid on the workers. The key
reaches the workers through the environment of ``ray start``, never through the runtime env."""
OPENRLHF_DEFAULTS = {
    "TOKENIZERS_PARALLELISM": "true",
    "NCCL_DEBUG": "WARN",
    "RAY_ENABLE_ZERO_COPY_TORCH_TENSORS": "1",
}
"""The env_vars OpenRLHF's own ray.init sets (train_ppo_ray.train), which ours replaces."""


def forwarded_env(environ: Mapping[str, str]) -> dict[str, str]:
    out = dict(OPENRLHF_DEFAULTS)
    for k, v in environ.items():
        if (k.startswith(FORWARDED_PREFIXES) or k in FORWARDED) and k not in NOT_FORWARDED:
            out[k] = v
    return out


def wandb_can_log(environ: Mapping[str, str], netrc_path: Path | None = None) -> tuple[bool, str]:
    """(whether OpenRLHF's W&B logger can start here, why not): offline runs need no key; online
    runs need WANDB_API_KEY or a ``wandb login`` entry in ~/.netrc for the W&B host."""
    if environ.get("WANDB_MODE", "").lower() in ("offline", "dryrun", "disabled"):
        return True, ""
    if environ.get("WANDB_API_KEY"):
        return True, ""
    host = urlparse(environ.get("WANDB_BASE_URL") or "https://api.wandb.ai").hostname or "api.wandb.ai"
    path = netrc_path or Path(environ.get("NETRC", "~/.netrc")).expanduser()
    try:
        if path.is_file() and netrc.netrc(str(path)).authenticators(host):
            return True, ""
    except (netrc.NetrcParseError, OSError):
        pass
    return False, f"W&B off for this run: WANDB_MODE is online and neither WANDB_API_KEY nor {path} has a key"


def without_wandb(argv: Sequence[str]) -> list[str]:
    """The arguments without any ``--logger.wandb.*`` flag and its values."""
    out: list[str] = []
    skip = False
    for a in argv:
        if skip and not a.startswith("--"):
            continue
        skip = a.startswith("--logger.wandb.")
        if not skip:
            out.append(a)
    return out


def wait_for_nodes(ray: Any, n: int, timeout_s: float, poll_s: float = 1.0) -> int:
    deadline = time.time() + timeout_s
    while True:
        alive = sum(1 for node in ray.nodes() if node.get("Alive"))
        if alive >= n:
            return alive
        if time.time() > deadline:
            raise TimeoutError(f"{alive} of {n} Ray nodes joined within {timeout_s:.0f} s")
        time.sleep(poll_s)


def parse(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    argv = list(argv)
    rest: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, rest = argv[:i], argv[i + 1 :]
    p = argparse.ArgumentParser(prog="python -m saerl.rl.openrlhf.driver", description=__doc__.split("\n")[0])
    p.add_argument("--entry", default=ENTRY, help="module run as __main__ once Ray is up")
    p.add_argument("--setup-hook", default=HOOK, help="Ray worker_process_setup_hook ('' for none)")
    p.add_argument("--nodes", type=int, default=int(os.environ.get("SAERL_RAY_NODES", "1")))
    p.add_argument("--wait-s", type=float, default=600, help="how long to wait for the nodes")
    return p.parse_args(argv), rest


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args, rest = parse(sys.argv[1:] if argv is None else argv)
    import ray

    runtime_env: dict[str, object] = {"env_vars": forwarded_env(os.environ)}
    if args.setup_hook:
        runtime_env["worker_process_setup_hook"] = args.setup_hook
    ray.init(address=os.environ.get("RAY_ADDRESS", "auto"), runtime_env=runtime_env)
    alive = wait_for_nodes(ray, args.nodes, args.wait_s)
    log.info("%d Ray node(s) up; running %s (setup hook: %s)", alive, args.entry, args.setup_hook or "none")
    can_log, why = wandb_can_log(os.environ)
    if not can_log:
        log.warning(why)
    sys.argv = [args.entry, *(rest if can_log else without_wandb(rest))]
    runpy.run_module(args.entry, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
