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
    """k sampled completions per prompt. Deterministic given the seed (each batch reseeds)."""
    import torch
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    out: list[list[str]] = []
    quiet = {"disable": True} if progress is None else {}
    for b, start in enumerate(tqdm(range(0, len(prompts), batch_size), desc=progress, unit="batch", **quiet)):
        texts = [format_prompt(tokenizer, p) for p in prompts[start : start + batch_size]]
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
        torch.manual_seed(seed * 1_000_003 + b)
        with torch.inference_mode():
            gen = model.generate(
                **enc,
                do_sample=True,
                temperature=temperature,
                top_p=1.0,
                top_k=0,
                num_return_sequences=k,
                max_new_tokens=max_new_tokens,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
        decoded = tokenizer.batch_decode(gen[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        out.extend(decoded[i * k : (i + 1) * k] for i in range(len(texts)))
    return out


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
