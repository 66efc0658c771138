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
    """The same contract as ``sample_hf`` through vLLM: the same chat formatting, k samples per
    prompt at the same temperature (top-p 1, no top-k, as HF sampling here), the same length
    budget, stopping where HF generation stops (EOS ids, the chat turn end); graded by the same
    grader afterwards. ``temperature`` 0 is greedy decoding (the vLLM evaluation).
    vLLM is not a saerl dependency: it lives in the cluster's OpenRLHF environment
    (slurm/openrlhf-requirements.txt), where this runs."""
    try:
        from vllm import LLM, SamplingParams
    except ImportError as exc:
        raise RuntimeError(
            "signals.difficulty.backend=vllm needs vLLM, which saerl does not install: run this stage "
            "in the OpenRLHF environment (slurm/openrlhf-requirements.txt), or use backend=hf"
        ) from exc
    from saerl.models.generation import stop_token_ids

    llm = LLM(model=model_path, seed=seed, trust_remote_code=False)
    params = SamplingParams(
        n=k,
        temperature=temperature,
        top_p=1.0,
        top_k=-1,
        max_tokens=max_new_tokens,
        seed=seed,
        stop_token_ids=stop_token_ids(tokenizer),  # the chat turn end too, as HF generation stops
    )
    results = llm.generate([format_prompt(tokenizer, p) for p in prompts], params)
    return [[c.text for c in r.outputs] for r in results]


def failure_rates(
    completions: Sequence[Sequence[str]], answers: Sequence[str], grader: Callable[[str, str], bool]
) -> np.ndarray:
    """1 - pass rate per prompt, in [0, 1]."""
    return np.array(
        [1.0 - sum(grader(c, a) for c in cs) / len(cs) for cs, a in zip(completions, answers, strict=True)]
    )
