"""Rollout-based difficulty labels: k sampled completions per prompt, graded; difficulty = 1 - pass rate.

Backends: HF `generate` (batched sampling; CPU or GPU) and vLLM `LLM.generate` with
`SamplingParams(n=k, ...)` for GPU clusters (imported only when chosen).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from saerl.models.loading import format_prompt


def sample_hf(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    k: int,
    temperature: float,
    max_new_tokens: int,
    batch_size: int,
    seed: int,
    progress: str | None = None,
) -> list[list[str]]:
    """k sampled completions per prompt through HF ``generate``; deterministic given the seed."""
    from saerl.models.generation import generate

    return generate(
        model, tokenizer, prompts, max_new_tokens, batch_size, k, temperature, seed, progress=progress
    )


def sample_vllm(
    model_path: str,
    tokenizer: Any,
    prompts: Sequence[str],
    k: int,
    temperature: float,
    max_new_tokens: int,
    seed: int,
) -> list[list[str]]:
    """The same contract through vLLM (GPU clusters; `pip install vllm`)."""
    try:
        from vllm import LLM, SamplingParams
    except ImportError as exc:  # pragma: no cover - exercised on GPU clusters only
        raise RuntimeError("difficulty.backend=vllm needs the vllm package (cluster extra)") from exc
    llm = LLM(model=model_path, seed=seed)
    params = SamplingParams(n=k, temperature=temperature, max_tokens=max_new_tokens, seed=seed)
    results = llm.generate([format_prompt(tokenizer, p) for p in prompts], params)
    return [[c.text for c in r.outputs] for r in results]


def failure_rates(
    completions: Sequence[Sequence[str]], answers: Sequence[str], grader: Callable[[str, str], bool]
) -> np.ndarray:
    """1 - pass rate per prompt, in [0, 1]."""
    return np.array(
        [1.0 - sum(grader(c, a) for c in cs) / len(cs) for cs, a in zip(completions, answers, strict=True)]
    )
