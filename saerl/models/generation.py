"""Batched generation (tokenise -> generate -> decode), shared by greedy evaluation, the warm-start
check and rollout labelling, so all three format and decode prompts exactly alike."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

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
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    stop_ids = stop_token_ids(tokenizer, configured) if chat_template else [tokenizer.eos_token_id]
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
                eos_token_id=stop_ids,
            )
        decoded = tokenizer.batch_decode(gen[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        for j, i in enumerate(idx):
            out[i] = decoded[j * samples : (j + 1) * samples]
    return out


def chat_turn_end(tokenizer: Any) -> int | None:
    """The special token the chat template closes an assistant turn with (Qwen's <|im_end|>,
    Llama 3's <|eot_id|>, ...), found by rendering a short exchange; None without a template."""
    if not getattr(tokenizer, "chat_template", None):
        return None
    marker = "SAERL_TURN_END_PROBE"
    try:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": "q"}, {"role": "assistant", "content": marker}], tokenize=False
        )
    except Exception:  # a template that cannot render an assistant turn: nothing to add
        return None
    after = text.split(marker, 1)[1] if marker in text else ""
    specials = set(tokenizer.all_special_tokens) | set(getattr(tokenizer, "added_tokens_encoder", {}))
    for token in sorted(specials, key=len, reverse=True):
        if token and after.lstrip(" ").startswith(token):
            return int(tokenizer.convert_tokens_to_ids(token))
    return None


def stop_token_ids(tokenizer: Any, configured: Any = None) -> list[int]:
    """Where chat-formatted generation stops: the model's generation-config EOS id(s), the
    tokenizer's EOS and the chat template's turn end. For a base model (Qwen2.5's EOS is
    <|endoftext|>) the turn end is not an EOS, and chat-formatted generations would run to the
    length limit without it. ``configured``: the generation config's ``eos_token_id`` (int, list
    or None)."""
    ids = own_stop_ids(tokenizer, configured)
    end = chat_turn_end(tokenizer)
    return ids + ([end] if end is not None and end not in ids else [])


def own_stop_ids(tokenizer: Any, configured: Any = None) -> list[int]:
    """The stop ids a model names itself: its generation config's EOS id(s) and its tokenizer's EOS."""
    ids: list[int] = []
    for value in (configured, tokenizer.eos_token_id):
        for i in value if isinstance(value, (list, tuple)) else [value]:
            if i is not None and int(i) not in ids:
                ids.append(int(i))
    return ids


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


def greedy_correct(
    model: Any,
    tokenizer: Any,
    records: Sequence[Record],
    grader: Callable[[str, str], bool],
    max_new_tokens: int,
    batch_size: int = 64,
    progress: str | None = None,
    grade_record: Callable[[str, Record], bool] | None = None,
) -> list[bool]:
    """Per record, whether its greedy completion grades correct: ``grader(completion, reference
    answer)``, or ``grade_record(completion, record)`` when given (benchmarks whose grading needs
    the record: units, multiple answers)."""
    if not records:
        raise ValueError("greedy_accuracy: no records to evaluate")
    prompts = [r.prompt for r in records]
    completions = generate_greedy(model, tokenizer, prompts, max_new_tokens, batch_size, progress=progress)
    grade = grade_record or (lambda c, r: grader(c, r.answer))
    return [bool(grade(c, r)) for c, r in zip(completions, records, strict=True)]


def greedy_accuracy(
    model: Any, tokenizer: Any, records: Sequence[Record], grader: Callable[[str, str], bool],
    max_new_tokens: int, **options: Any,
) -> float:  # fmt: skip
    """Greedy accuracy; ``options``: batch_size, progress, grade_record (see ``greedy_correct``)."""
    right = greedy_correct(model, tokenizer, records, grader, max_new_tokens, **options)
    return sum(right) / len(right)


def configured_eos(model_path: Any) -> Any:
    """The ``eos_token_id`` of a model folder's generation_config.json (int, list or None)."""
    from transformers import GenerationConfig

    try:
        return GenerationConfig.from_pretrained(str(model_path)).eos_token_id
    except OSError:  # no generation_config.json
        return None


class StopRule(NamedTuple):
    """Where chat-formatted generation of a model stops, in every path (evaluation, labels, TRL and
    OpenRLHF rollouts): the ids, their tokens, and those its own configs do not name."""

    ids: list[int]
    tokens: list[str]
    added: list[str]
    """Stop tokens missing from the model's generation config and tokenizer EOS (a base model's chat
    turn end): TRL gets them as eos_token_id, OpenRLHF's vLLM through generation_config.json."""

    def describe(self) -> str:
        own = [t for t in self.tokens if t not in self.added]
        text = f"stops at {', '.join(self.tokens)}"
        if self.added:
            text += f" ({', '.join(self.added)} added to the model's own {', '.join(own) or 'none'})"
        return text


def stop_rule(model_path: Any, tokenizer: Any) -> StopRule:
    """The model's :class:`StopRule` (folder: its generation_config.json; tokenizer: EOS, chat template)."""
    configured = configured_eos(model_path)
    ids = stop_token_ids(tokenizer, configured)
    own = set(own_stop_ids(tokenizer, configured))
    tokens = [str(t) for t in tokenizer.convert_ids_to_tokens(ids)]
    return StopRule(ids, tokens, [t for i, t in zip(ids, tokens, strict=True) if i not in own])
