"""Warm-start SFT: next-token loss on step-by-step solutions, prompt tokens masked.

A plain loop rather than a Trainer: at 1M parameters the Trainer's per-step overhead costs more than
the model, and the loop is short enough to read in one screen.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from saerl.data.records import Record
from saerl.models.config import SftConfig
from saerl.models.loading import format_prompt
from saerl.models.tokenizer import IM_END


class SftResult(NamedTuple):
    steps: int
    tokens: int
    seconds: float
    final_loss: float


def encode_examples(tokenizer: Any, records: Sequence[Record]) -> list[tuple[list[int], list[int]]]:
    """(input_ids, labels) per record; labels are -100 on the prompt."""
    out = []
    for rec in records:
        prompt_ids = tokenizer(format_prompt(tokenizer, rec.prompt), add_special_tokens=False)["input_ids"]
        target_ids = tokenizer(rec.meta["solution"] + IM_END, add_special_tokens=False)["input_ids"]
        out.append((prompt_ids + target_ids, [-100] * len(prompt_ids) + target_ids))
    return out


def sft_step(
    model: Any, opt: Any, batch: Sequence[tuple[list[int], list[int]]], pad_id: int, device: Any
) -> tuple[float, int]:
    """One optimizer step of next-token loss on ``batch`` (right-padded); (loss, tokens)."""
    import torch

    width = max(len(ids) for ids, _ in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, (ids, lab) in enumerate(batch):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        labels[row, : len(lab)] = torch.tensor(lab)
        mask[row, : len(ids)] = 1
    out = model(input_ids=input_ids.to(device), attention_mask=mask.to(device), labels=labels.to(device))
    opt.zero_grad(set_to_none=True)
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return out.loss.detach().item(), int(mask.sum())


def _lr_at(step: int, cfg: SftConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def run_sft(
    model: Any,
    tokenizer: Any,
    records: Sequence[Record],
    cfg: SftConfig,
    desc: str = "sft",
    on_step: Callable[[int], None] | None = None,
) -> SftResult:
    """``cfg.steps`` steps of SFT on ``records``. ``on_step(n)`` runs after the n-th step (e.g. an
    evaluation along the way); the model is back in train mode after it."""
    import torch
    from tqdm.auto import tqdm

    if not records:
        raise ValueError("sft: no training records")
    examples = encode_examples(tokenizer, records)
    pad_id = tokenizer.pad_token_id
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.95))
    model.train()
    tokens, loss_value, start = 0, float("nan"), time.perf_counter()
    bar = tqdm(range(cfg.steps), desc=desc, unit="step", mininterval=2.0)
    for step in bar:
        idx = torch.randint(len(examples), (cfg.batch_size,), generator=gen).tolist()
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, cfg)
        loss_value, n = sft_step(model, opt, [examples[i] for i in idx], pad_id, device)
        tokens += n
        bar.set_postfix(loss=f"{loss_value:.3f}", tok_s=f"{tokens / (time.perf_counter() - start):.0f}")
        if on_step is not None:
            on_step(step + 1)
            model.train()
    model.eval()
    return SftResult(cfg.steps, tokens, time.perf_counter() - start, loss_value)
