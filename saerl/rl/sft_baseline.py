"""The same-compute SFT baseline (``rl.algorithm=sft``): instead of RL, the target continues
supervised fine-tuning on the curriculum's prompts with their reference solutions, for the wall
time an RL run takes (``rl.sft_seconds``), and is evaluated like an RL run: greedy at step 0 and at
the end. The end is logged at step ``rl.steps`` so the report lines it up with the RL runs' final
evaluation. It asks whether RL on the same prompts and compute beats imitating their solutions.

OUR CHOICES: batches of B prompts in the curriculum's order, cycled until the time is up; constant
learning rate ``rl.sft_lr`` (default 2e-4, where the warm-start's cosine schedule ended: 10% of
its 2e-3 peak); no checkpoints (a killed baseline restarts).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from saerl.data.records import Record
from saerl.rl.config import RLConfig
from saerl.tracking import Tracker


def train_sft_baseline(
    rl: RLConfig,
    run_dir: Path,
    target_path: str,
    tokenizer: Any,
    records: list[Record],
    batch_size: int,
    evals: dict[str, list[Record]],
    grader_kind: str,
    tracker: Tracker,
    device: str,
) -> dict[str, float]:
    import torch

    from saerl.data.grading import get_grader
    from saerl.models.loading import load_model
    from saerl.models.sft import encode_examples, sft_step
    from saerl.rl.callbacks import evaluate

    missing = [r.id for r in records if "solution" not in r.meta]
    if missing:
        raise ValueError(
            f"rl.algorithm=sft needs a reference solution per prompt (meta['solution']); "
            f"{len(missing)} of {len(records)} have none, e.g. {missing[:3]}"
        )
    grader = get_grader(grader_kind)
    model = load_model(target_path, device)
    tracker.log(0, evaluate(model, tokenizer, evals, grader, rl))
    examples = encode_examples(tokenizer, records)
    opt = torch.optim.AdamW(model.parameters(), lr=rl.sft_lr, weight_decay=0.01, betas=(0.9, 0.95))
    model.train()
    start, step, tokens, loss = time.perf_counter(), 0, 0, float("nan")
    while time.perf_counter() - start < rl.sft_seconds:
        first = (step * batch_size) % len(examples)
        batch = [examples[(first + i) % len(examples)] for i in range(batch_size)]
        loss, n = sft_step(model, opt, batch, tokenizer.pad_token_id, model.device)
        step, tokens = step + 1, tokens + n
        if step % 10 == 0:
            tracker.log(step, {"train/sft_loss": loss})
    seconds = time.perf_counter() - start
    final = evaluate(model, tokenizer, evals, grader, rl, final=True)
    facts = {"train/sft_steps": step, "train/sft_tokens": tokens, "train/sft_seconds": seconds}
    tracker.log(rl.steps, {**final, **facts, "wall_time": seconds})
    model.save_pretrained(run_dir / "model")
    return final
