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

VERSION = "2"  # 2: benchmarks


def eval_sets(
    inputs: dict[str, Artifact], splits: Any, benchmarks: Any, items: int, instruction: str = ""
) -> dict[str, list[Any]]:
    """The first ``items`` records of each eval split (prompts with ``instruction``), then of each
    named benchmark (prompts with its answer instruction): what every evaluation of a run reads."""
    import dataclasses

    from saerl.data.benchmarks import eval_set
    from saerl.data.records import instructed
    from saerl.data.stage import load_split

    out = {
        split: [
            dataclasses.replace(r, prompt=instructed(r.prompt, instruction))
            for r in load_split(inputs["data"], split)[:items]
        ]
        for split in splits
    }
    for name in benchmarks:
        if name in out:
            raise ValueError(f"rl.eval_benchmarks: {name!r} is also an eval split")
        out[name] = eval_set(inputs["benchmarks"], name, items)
    return out


def eval0_params(rl: Any, grader: str) -> dict[str, Any]:
    """What the evaluation depends on (hashed into its key): not the run's other RL settings."""
    return {
        "eval_splits": list(rl.eval_splits),
        "eval_benchmarks": list(rl.eval_benchmarks),
        "instruction": rl.instruction,
        "eval_items": rl.eval_items,
        "eval_max_new_tokens": rl.eval_max_new_tokens,
        "eval_batch_size": rl.eval_batch_size,
        "eval_backend": rl.eval_backend,
        "grader": grader,
    }


def build_eval0(ctx: BuildContext, params: dict[str, Any], inputs: dict[str, Artifact], device: str) -> None:
    from saerl.data.grading import get_grader
    from saerl.models.loading import load_model, load_tokenizer

    target = inputs["target"]
    tok = load_tokenizer(target.path)
    grader = get_grader(params["grader"])
    named = params.get("eval_benchmarks", [])
    evals = eval_sets(
        inputs, params["eval_splits"], named, params["eval_items"], params.get("instruction", "")
    )
    start = time.time()
    if params.get("eval_backend") == "vllm":
        metrics = vllm_accuracy(str(target.path), tok, evals, grader, named, params["eval_max_new_tokens"])
    else:
        metrics = hf_accuracy(load_model(target.path, device), tok, evals, grader, named, params)
    metrics["eval/average"] = sum(metrics.values()) / len(metrics)
    (ctx.path / "metrics.json").write_text(json.dumps(metrics, indent=1))
    if device.startswith("cuda"):
        ctx.accelerator_seconds = time.time() - start
    ctx.info.update(metrics)


def vllm_accuracy(
    model_path: str, tok: Any, evals: dict[str, Any], grader: Any, named: Any, max_new_tokens: int
) -> dict[str, float]:
    """Greedy accuracy per eval set through vLLM (one engine, every set in one generate call)."""
    from saerl.data import benchmarks
    from saerl.signals.rollouts import sample_vllm

    prompts = [r.prompt for records in evals.values() for r in records]
    completions = iter(c[0] for c in sample_vllm(model_path, tok, prompts, 1, 0.0, max_new_tokens, 0))
    out = {}
    for name, records in evals.items():
        right = [
            benchmarks.grade(c, r) if name in named else grader(c, r.answer)
            for r, c in zip(records, completions, strict=False)
        ]
        out[f"eval/{name}/accuracy"] = sum(right) / max(1, len(right))
    return out


def hf_accuracy(
    model: Any, tok: Any, evals: dict[str, Any], grader: Any, named: Any, params: dict[str, Any]
) -> dict[str, float]:
    """Greedy accuracy per eval set through HF generate."""
    from saerl.data import benchmarks
    from saerl.models.generation import greedy_accuracy

    return {
        f"eval/{name}/accuracy": greedy_accuracy(
            model,
            tok,
            records,
            grader,
            params["eval_max_new_tokens"],
            batch_size=params.get("eval_batch_size", 64),
            grade_record=benchmarks.grade if name in named else None,
        )
        for name, records in evals.items()
    }
