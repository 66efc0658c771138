"""Stands in for ``openrlhf.cli.train_ppo_ray`` in the CPU tests (OpenRLHF itself needs GPUs, vLLM
and DeepSpeed). Run by saerl's driver as ``__main__``, inside the job's Ray cluster, it does what
the job layer depends on and nothing more:

- parses its arguments with OpenRLHF 0.11.2's own parser (from the wheel, as the tests do);
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


def main() -> None:
    import ray

    from saerl.rl.openrlhf import parser_from_wheel

    args = vars(parser_from_wheel(_wheel()).parse_args(sys.argv[1:]))
    rows = [json.loads(line) for line in Path(args["data.prompt_dataset"]).read_text().splitlines()]
    batch, n = args["rollout.batch_size"], args["rollout.n_samples_per_prompt"]
    remote = ray.remote(num_cpus=1)(score)
    steps = []
    for start in range(0, len(rows) - batch + 1, batch):
        step = rows[start : start + batch]
        half = len(step) // 2  # two tasks per step, so both nodes score
        refs = [
            remote.remote(
                args["reward.remote_url"],
                [r["prompt"] + " #### " + json.loads(r["label"])["answer"] for r in part for _ in range(n)],
                [r["prompt"] for r in part for _ in range(n)],
                [r["label"] for r in part for _ in range(n)],
            )
            for part in (step[:half], step[half:])
        ]
        steps.append(ray.get(refs))
    time.sleep(float(os.environ.get("STANDIN_HOLD", "0")))  # a longer "training", for overlap tests
    out = Path(args["ckpt.path"]) / "standin.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "steps": steps,
                "args": {k: v for k, v in args.items() if isinstance(v, (str, int, float, bool))},
            }
        )
    )


if __name__ == "__main__":
    main()
