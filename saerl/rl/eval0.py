"""The ``eval0`` stage: the target model's greedy accuracy before RL, on the run's eval sets.

The local (TRL) backend evaluates at step 0 inside the run; OpenRLHF evaluates only after training
steps, so its runs take step 0 from this node. It is keyed by the target model, the data and the
eval settings alone, so every run of one target (vanilla and SAERL, every seed) shares one.
"""

from __future__ import annotations

import json
import time
from typing import Any

from saerl.store import Artifact, BuildContext

VERSION = "1"


def eval0_params(rl: Any, grader: str) -> dict[str, Any]:
    """What the evaluation depends on (hashed into its key): not the run's other RL settings."""
    return {
        "eval_splits": list(rl.eval_splits),
        "eval_items": rl.eval_items,
        "eval_max_new_tokens": rl.eval_max_new_tokens,
        "grader": grader,
    }


def build_eval0(ctx: BuildContext, params: dict[str, Any], inputs: dict[str, Artifact], device: str) -> None:
    from saerl.data.grading import get_grader
    from saerl.data.stage import load_split
    from saerl.models.generation import greedy_accuracy
    from saerl.models.loading import load_model, load_tokenizer

    target = inputs["target"]
    tok = load_tokenizer(target.path)
    model = load_model(target.path, device)
    grader = get_grader(params["grader"])
    start = time.time()
    metrics = {
        f"eval/{split}/accuracy": greedy_accuracy(
            model,
            tok,
            load_split(inputs["data"], split)[: params["eval_items"]],
            grader,
            params["eval_max_new_tokens"],
        )
        for split in params["eval_splits"]
    }
    metrics["eval/average"] = sum(metrics.values()) / len(metrics)
    (ctx.path / "metrics.json").write_text(json.dumps(metrics, indent=1))
    if device.startswith("cuda"):
        ctx.accelerator_seconds = time.time() - start
    ctx.info.update(metrics)
