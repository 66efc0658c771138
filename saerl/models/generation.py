"""Batched greedy generation and accuracy: used for warm-start checks and RL evaluation."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from saerl.data.records import Record
from saerl.models.loading import format_prompt


def generate_greedy(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    max_new_tokens: int,
    batch_size: int = 64,
    chat_template: bool = True,
) -> list[str]:
    """Decoded completions (special tokens stripped), in the order of ``prompts``."""
    import torch

    # Length-sorted batches waste less compute on padding; results go back to input order.
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out: list[str] = [""] * len(prompts)
    device = next(model.parameters()).device
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        texts = [format_prompt(tokenizer, prompts[i], chat_template) for i in idx]
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
        with torch.inference_mode():
            gen = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
        new = gen[:, enc["input_ids"].shape[1] :]
        for i, text in zip(idx, tokenizer.batch_decode(new, skip_special_tokens=True), strict=True):
            out[i] = text
    return out


def greedy_accuracy(
    model: Any,
    tokenizer: Any,
    records: Sequence[Record],
    grader: Callable[[str, str], bool],
    max_new_tokens: int,
    batch_size: int = 64,
) -> float:
    if not records:
        raise ValueError("greedy_accuracy: no records to evaluate")
    completions = generate_greedy(model, tokenizer, [r.prompt for r in records], max_new_tokens, batch_size)
    return sum(grader(c, r.answer) for c, r in zip(completions, records, strict=True)) / len(records)
