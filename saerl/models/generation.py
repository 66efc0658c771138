"""Batched generation (tokenise -> generate -> decode), shared by greedy evaluation, the warm-start
check and rollout labelling, so all three format and decode prompts exactly alike."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from saerl.data.records import Record
from saerl.models.loading import format_prompt


def generate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    max_new_tokens: int,
    batch_size: int = 64,
    samples: int = 1,
    temperature: float | None = None,
    seed: int = 0,
    chat_template: bool = True,
    progress: str | None = None,
) -> list[list[str]]:
    """``samples`` decoded completions per prompt (special tokens stripped), in prompt order.

    ``temperature`` None is greedy decoding; otherwise pure sampling (top_p 1, top_k 0) at that
    temperature, reseeded per batch from ``seed`` so a result depends only on (seed, batch_size).
    Prompts are batched by length (less padding); outputs go back to input order.
    """
    import torch
    from tqdm.auto import tqdm

    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out: list[list[str]] = [[] for _ in prompts]
    device = next(model.parameters()).device
    sampling: dict[str, Any] = (
        {"do_sample": False}
        if temperature is None
        else {"do_sample": True, "temperature": temperature, "top_p": 1.0, "top_k": 0}
    )
    starts = range(0, len(order), batch_size)
    bar = tqdm(starts, desc=progress, unit="batch", leave=False, disable=progress is None or None)
    for b, start in enumerate(bar):
        idx = order[start : start + batch_size]
        texts = [format_prompt(tokenizer, prompts[i], chat_template) for i in idx]
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
        if temperature is not None:
            torch.manual_seed(seed * 1_000_003 + b)
        with torch.inference_mode():
            gen = model.generate(
                **enc,
                **sampling,
                num_return_sequences=samples,
                max_new_tokens=max_new_tokens,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
        decoded = tokenizer.batch_decode(gen[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        for j, i in enumerate(idx):
            out[i] = decoded[j * samples : (j + 1) * samples]
    return out


def generate_greedy(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    max_new_tokens: int,
    batch_size: int = 64,
    chat_template: bool = True,
    progress: str | None = None,
) -> list[str]:
    """One greedy completion per prompt."""
    outs = generate(
        model, tokenizer, prompts, max_new_tokens, batch_size, chat_template=chat_template, progress=progress
    )
    return [o[0] for o in outs]


def greedy_accuracy(
    model: Any,
    tokenizer: Any,
    records: Sequence[Record],
    grader: Callable[[str, str], bool],
    max_new_tokens: int,
    batch_size: int = 64,
    progress: str | None = None,
    grade_record: Callable[[str, Record], bool] | None = None,
) -> float:
    """Greedy accuracy: ``grader(completion, reference answer)``, or ``grade_record(completion,
    record)`` when given (benchmarks whose grading needs the record: units, multiple answers)."""
    if not records:
        raise ValueError("greedy_accuracy: no records to evaluate")
    prompts = [r.prompt for r in records]
    completions = generate_greedy(model, tokenizer, prompts, max_new_tokens, batch_size, progress=progress)
    grade = grade_record or (lambda c, r: grader(c, r.answer))
    return sum(grade(c, r) for c, r in zip(completions, records, strict=True)) / len(records)
