"""Residual-stream activations of a source model S at `model.layers.L`, prompt tokens only.

Prompts are formatted exactly as the RL trainer will see them, tokenized once, batched by length
(sorted, so padding stays small), right-padded (the
models' default position ids are 0..T-1, so right padding leaves real tokens untouched under causal
attention), and run under `torch.inference_mode`. A forward hook on layer L captures its output and,
by default, stops the forward pass there: the layers above L are never computed.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

from saerl.models.loading import format_prompt
from saerl.sae.config import ActivationsConfig


class ActivationError(ValueError):
    """A problem with the source model or its activations, naming the model, layer or record ids."""


class PromptBatch(NamedTuple):
    idx: list[int]
    """Positions of these prompts in the input sequence."""
    input_ids: Any  # LongTensor [B, T], right-padded
    attention_mask: Any  # [B, T]
    prompt_mask: Any  # bool [B, T]: the tokens that count as the prompt


class PromptActivations(NamedTuple):
    idx: list[int]
    acts: list[Any]
    """One float tensor [n_prompt_tokens_i, d] per prompt, in `idx` order."""


def decoder_layers(model: Any) -> Any:
    """The ModuleList of decoder layers (`model.layers` inside any HF causal LM)."""
    base = model.get_decoder() if hasattr(model, "get_decoder") else getattr(model, "model", model)
    layers = getattr(base, "layers", None)
    if layers is None:
        raise ActivationError(f"{type(model).__name__}: no `model.layers` module list to hook")
    return layers


def resolve_layer(model: Any, layer: int) -> int:
    """-1 -> round(0.55 * depth); otherwise check 0 <= layer < depth."""
    depth = len(decoder_layers(model))
    if layer == -1:
        return min(depth - 1, round(0.55 * depth))
    if not 0 <= layer < depth:
        raise ActivationError(f"layer {layer} out of range: the model has {depth} layers (0..{depth - 1})")
    return layer


def hidden_size(model: Any) -> int:
    return int(model.config.hidden_size)


class _StopForward(Exception):
    pass


@contextlib.contextmanager
def capture_layer(model: Any, layer: int, stop: bool = True) -> Iterator[dict[str, Any]]:
    """Yield a dict whose 'out' is set to layer ``layer``'s output on each forward pass.

    With ``stop``, the hook raises after capturing, so the forward pass ends at layer L; call the
    model through `run_to_layer` to swallow that.
    """
    box: dict[str, Any] = {}

    def hook(module: Any, args: Any, output: Any) -> None:
        box["out"] = output[0] if isinstance(output, tuple) else output
        if stop:
            raise _StopForward

    handle = decoder_layers(model)[layer].register_forward_hook(hook)
    try:
        yield box
    finally:
        handle.remove()


def run_to_layer(model: Any, box: dict[str, Any], input_ids: Any, attention_mask: Any) -> Any:
    """One forward pass (stopped early or not, as `capture_layer` was set up); returns layer L's output."""
    box.pop("out", None)
    with contextlib.suppress(_StopForward):
        model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
    return box["out"]


def special_ids(tokenizer: Any) -> set[int]:
    """Ids of every special token, including added ones (chat markers) missing from all_special_ids."""
    ids = set(tokenizer.all_special_ids)
    decoder = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    ids.update(i for i, tok in decoder.items() if getattr(tok, "special", False))
    return ids


class EncodedPrompt(NamedTuple):
    input_ids: list[int]
    mask: list[bool]
    """Which tokens count as the prompt."""


def encode_prompts(
    tokenizer: Any, prompts: Sequence[str], cfg: ActivationsConfig, ids: Sequence[str] | None = None
) -> list[EncodedPrompt]:
    """Format and tokenize each prompt once and mark its prompt tokens (reused across SAE epochs)."""
    special = special_ids(tokenizer)
    encoded = []
    for i, prompt in enumerate(prompts):
        text = format_prompt(tokenizer, prompt, cfg.chat_template)
        enc = tokenizer(
            text,
            add_special_tokens=False,
            truncation=True,
            max_length=cfg.max_length,
            return_offsets_mapping=cfg.tokens == "content",
        )
        mask = [t not in special for t in enc["input_ids"]]
        if cfg.tokens == "content":
            start = text.find(prompt) if cfg.chat_template else 0
            end = start + len(prompt)
            mask = [
                m and a < end and b > start for m, (a, b) in zip(mask, enc["offset_mapping"], strict=True)
            ]
        if not any(mask):
            name = ids[i] if ids is not None else f"#{i}"
            raise ActivationError(f"record {name}: no prompt tokens left after masking (prompt {prompt!r})")
        encoded.append(EncodedPrompt(enc["input_ids"], mask))
    return encoded


def prompt_batches(
    tokenizer: Any,
    prompts: Sequence[str],
    cfg: ActivationsConfig,
    ids: Sequence[str] | None = None,
    encoded: Sequence[EncodedPrompt] | None = None,
) -> Iterator[PromptBatch]:
    """Tokenize (unless ``encoded`` is given), sort by length and cut into right-padded batches."""
    import torch

    if encoded is None:
        encoded = encode_prompts(tokenizer, prompts, cfg, ids)
    elif len(encoded) != len(prompts):
        raise ValueError(f"encoded: {len(encoded)} encodings for {len(prompts)} prompts")
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    for start in range(0, len(order), cfg.batch_size):
        index = order[start : start + cfg.batch_size]
        width = max(len(encoded[i][0]) for i in index)
        input_ids = torch.full((len(index), width), pad_id, dtype=torch.long)
        attention = torch.zeros((len(index), width), dtype=torch.long)
        prompt_mask = torch.zeros((len(index), width), dtype=torch.bool)
        for row, i in enumerate(index):
            tok_ids, mask = encoded[i]
            input_ids[row, : len(tok_ids)] = torch.tensor(tok_ids)
            attention[row, : len(tok_ids)] = 1
            prompt_mask[row, : len(mask)] = torch.tensor(mask)
        yield PromptBatch(index, input_ids, attention, prompt_mask)


def iter_activations(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    layer: int,
    cfg: ActivationsConfig,
    ids: Sequence[str] | None = None,
    stop_early: bool = True,
    progress: str | None = None,
    encoded: Sequence[EncodedPrompt] | None = None,
) -> Iterator[PromptActivations]:
    """Per batch: the fp32 layer-L activations of each prompt's prompt tokens (``encoded``: the
    prompts' `encode_prompts`, when the caller keeps them across passes)."""
    import torch
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    quiet = {"disable": True} if progress is None else {}  # else tqdm's own default (TQDM_DISABLE)
    bar = tqdm(total=len(prompts), desc=progress, unit="prompt", mininterval=2.0, **quiet)
    start = time.perf_counter()
    # inference_mode is entered per batch, never across a `yield`: the consumer (an SAE trainer) needs
    # autograd, and would otherwise run inside our inference mode.
    with capture_layer(model, layer, stop=stop_early) as box:
        for batch in prompt_batches(tokenizer, prompts, cfg, ids, encoded):
            mask = batch.prompt_mask.to(device)
            with torch.inference_mode():
                out = run_to_layer(model, box, batch.input_ids.to(device), batch.attention_mask.to(device))
                out = out.float()
                finite = torch.isfinite(out).all(dim=-1) | ~mask
                acts = [out[r][mask[r]].cpu() for r in range(len(batch.idx))]
            if not bool(finite.all()):
                bad = [batch.idx[r] for r in range(len(batch.idx)) if not bool(finite[r].all())]
                names = [ids[i] if ids is not None else f"#{i}" for i in bad]
                raise ActivationError(f"non-finite activations at layer {layer} for records {names}")
            bar.update(len(batch.idx))
            bar.set_postfix(prompts_s=f"{bar.n / (time.perf_counter() - start):.0f}")
            yield PromptActivations(batch.idx, [a.clone() for a in acts])  # clone: normal tensors
    bar.close()


def shuffled_batches(chunks: Iterable[Any], capacity: int, batch_size: int, seed: int) -> Iterator[Any]:
    """Re-batch a stream of [n_i, d] chunks into shuffled [batch_size, d] batches.

    At most ``capacity`` rows (plus one incoming chunk) are held at a time; once the buffer is full,
    it is shuffled and its first half is emitted, so rows mix across many prompts and batches.
    A final partial batch is dropped.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    buffer: Any = None
    for chunk in chunks:
        buffer = chunk if buffer is None else torch.cat([buffer, chunk])
        if len(buffer) < capacity:
            continue
        buffer = buffer[torch.randperm(len(buffer), generator=gen)]
        n_out = (len(buffer) // 2) // batch_size * batch_size
        for s in range(0, n_out, batch_size):
            yield buffer[s : s + batch_size]
        buffer = buffer[n_out:]
    if buffer is not None:
        buffer = buffer[torch.randperm(len(buffer), generator=gen)]
        for s in range(0, len(buffer) - batch_size + 1, batch_size):
            yield buffer[s : s + batch_size]
