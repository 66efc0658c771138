"""Stands in for ``openrlhf.cli.train_ppo_ray`` in the CPU tests (OpenRLHF itself needs GPUs, vLLM
and DeepSpeed). Run by saerl's driver as ``__main__``, inside the job's Ray cluster, it does what
the job layer depends on and nothing more:

- parses its arguments with OpenRLHF 0.11.2's own parser (from the wheel, as the tests do) and
  prints them all, as OpenRLHF's ``strategy.print(args)`` does at start-up;
- starts W&B as OpenRLHF's ``WandbLogger`` does, in a Ray actor, when ``--logger.wandb.key`` is
  non-empty: ``wandb.login(key=...)`` only if wandb has no key, then ``wandb.init(config=<every
  argument>)``, a few logged steps;
- reads ``--data.prompt_dataset`` in order, ``--rollout.batch_size`` prompts per step;
- scores each step's samples by calling ``reward_func`` from ``--reward.remote_url`` (loaded from
  the file path, as OpenRLHF loads it) in Ray tasks spread over the job's nodes, in worker threads;
- writes what it saw to ``<ckpt.path>/standin.json`` (steps, the Ray nodes used, W&B run id seen by
  the workers).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from pathlib import Path


def _wheel() -> Path:
    if env := os.environ.get("SAERL_OPENRLHF_WHEEL"):
        return Path(env)
    return sorted((Path.home() / ".cache" / "saerl" / "wheels").glob("openrlhf-0.11.2-*.whl"))[-1]


def score(reward_path: str, queries: list[str], prompts: list[str], labels: list[str]) -> dict:
    from concurrent.futures import ThreadPoolExecutor

    import ray

    spec = importlib.util.spec_from_file_location("reward_func", reward_path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with ThreadPoolExecutor(2) as pool:  # one sample per call, off the main thread, like OpenRLHF
        outs = list(
            pool.map(
                lambda qpl: module.reward_func([qpl[0]], [qpl[1]], [qpl[2]]),
                zip(queries, prompts, labels, strict=True),
            )
        )
    return {
        "rewards": [float(o["rewards"][0]) for o in outs],
        "node": ray.get_runtime_context().get_node_id(),
        "wandb_run_id": os.environ.get("WANDB_RUN_ID"),
    }


def trainer_wandb(args: dict) -> str:
    """What OpenRLHF's PPOTrainer actor does with W&B (utils/logging_utils.py, WandbLogger)."""
    import wandb

    if not wandb.api.api_key:
        wandb.login(key=args["logger.wandb.key"])
    run = wandb.init(
        project=args["logger.wandb.project"],
        group=args["logger.wandb.group"],
        name=args["logger.wandb.run_name"],
        config=args,
        reinit=True,
    )
    for step in (1, 2):
        wandb.log({"train/global_step": step, "train/reward": 0.5})
    run_id = run.id
    wandb.finish()
    return run_id


def main() -> None:
    import ray

    from saerl.rl.openrlhf.command import parser_from_wheel

    args = vars(parser_from_wheel(_wheel()).parse_args(sys.argv[1:]))
    print(args, flush=True)  # OpenRLHF's strategy.print(args): every argument, into the job's log
    wandb_run = ""
    if args["logger.wandb.key"]:
        wandb_run = ray.get(ray.remote(num_cpus=0)(trainer_wandb).remote(args))
    rows = [json.loads(line) for line in Path(args["data.prompt_dataset"]).read_text().splitlines()]
    batch, n = args["rollout.batch_size"], args["rollout.n_samples_per_prompt"]
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = sorted(n["NodeID"] for n in ray.nodes() if n["Alive"])
    remote = ray.remote(num_cpus=1)(score)

    def on_node(i: int):  # one scorer per node, as OpenRLHF places its vLLM engines on every node
        return remote.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(nodes[i % len(nodes)], soft=False)
        )

    steps = []
    for start in range(0, len(rows) - batch + 1, batch):
        step = rows[start : start + batch]
        half = len(step) // 2  # two tasks per step, so both nodes score
        refs = [
            on_node(i).remote(
                args["reward.remote_url"],
                [r["prompt"] + " #### " + json.loads(r["label"])["answer"] for r in part for _ in range(n)],
                [r["prompt"] for r in part for _ in range(n)],
                [r["label"] for r in part for _ in range(n)],
            )
            for i, part in enumerate((step[:half], step[half:]))
        ]
        steps.append(ray.get(refs))
    time.sleep(float(os.environ.get("STANDIN_HOLD", "0")))  # a longer "training", for overlap tests
    out = Path(args["ckpt.path"]) / "standin.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "steps": steps,
                "wandb_run": wandb_run,
                "args": {k: v for k, v in args.items() if isinstance(v, (str, int, float, bool))},
            }
        )
    )


if __name__ == "__main__":
    main()
