"""Config of the miniature's tiny model family and its SFT warm-start."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from saerl.configlib import check_range


@dataclass(frozen=True)
class ModelSpec:
    """One tiny causal LM, built from its transformers config (no hub needed)."""

    name: str
    """Short name used in run names and artifact paths, e.g. 'qwen2-xs'."""
    arch: Literal["qwen2", "llama"]
    """Architecture: Qwen2ForCausalLM or LlamaForCausalLM."""
    hidden_size: int = 128
    """Residual stream width (the SAE's d_in when this model is a source)."""
    num_layers: int = 4
    """Decoder layers."""
    num_heads: int = 4
    """Attention heads; head_dim = hidden_size / num_heads (>= 32 keeps vLLM CPU attention happy)."""
    intermediate_size: int = 512
    """MLP width."""

    def __post_init__(self) -> None:
        check_range(self, "hidden_size num_heads intermediate_size num_layers", low=1)
        if self.hidden_size % self.num_heads:
            raise ValueError(f"{self.name}: hidden_size {self.hidden_size} not divisible by num_heads")


def _default_family() -> tuple[ModelSpec, ...]:
    # Two architectures x two sizes: the smallest Qwen2 is the SAE source; larger models of both
    # families are RL targets (docs/method.md section 6). Depth stays at 4: on 2 CPU cores a 6-layer
    # 192-wide model (3.6M) trained at ~4.8k tok/s, too slow for the miniature's time budget.
    return (
        ModelSpec("qwen2-xs", "qwen2", hidden_size=128, num_layers=4, num_heads=4, intermediate_size=512),
        ModelSpec("qwen2-s", "qwen2", hidden_size=192, num_layers=4, num_heads=6, intermediate_size=512),
        ModelSpec("llama-xs", "llama", hidden_size=128, num_layers=4, num_heads=4, intermediate_size=512),
        ModelSpec("llama-s", "llama", hidden_size=192, num_layers=4, num_heads=6, intermediate_size=512),
    )


@dataclass(frozen=True)
class SftConfig:
    """Warm-start SFT on step-by-step solutions, so RL starts with room to improve."""

    steps: int = 250
    """Optimizer steps. 250 x 64 sequences gave 29% (1.1M params) and 54% (1.9M) greedy accuracy
    in-distribution, inside the 20-70% band that leaves RL room to improve."""
    batch_size: int = 64
    """Sequences per step."""
    lr: float = 2e-3
    """Peak AdamW learning rate (docs/tools.md: 2e-3 works at this size)."""
    warmup_steps: int = 30
    """Linear warmup, then cosine decay to 10% of lr."""
    weight_decay: float = 0.01
    """AdamW weight decay."""
    seed: int = 0
    """Initialisation and batching seed."""
    eval_items: int = 300
    """In-distribution eval items used for the reported greedy accuracy."""
    max_new_tokens: int = 96
    """Generation budget for the greedy accuracy check."""

    def __post_init__(self) -> None:
        check_range(self, "steps batch_size eval_items max_new_tokens", low=1)
        check_range(self, "lr", low=0, low_open=True)
        check_range(self, "warmup_steps weight_decay", low=0)


@dataclass(frozen=True)
class TokenizerConfig:
    """The ByteLevel BPE tokenizer shared by the whole family (trained on the arithmetic corpus)."""

    vocab_size: int = 512
    """Upper bound on the vocabulary; the corpus usually yields fewer merges."""
    min_frequency: int = 2
    """Merges seen fewer times are not learned."""

    def __post_init__(self) -> None:
        check_range(self, "vocab_size", low=64)
        check_range(self, "min_frequency", low=1)


@dataclass(frozen=True)
class ModelsConfig:
    """The miniature's model family."""

    family: tuple[ModelSpec, ...] = field(default_factory=_default_family)
    """Every model of the family; names must be unique."""
    build: tuple[str, ...] = ()
    """Names to build; empty = all of `family`."""
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    """Tokenizer training."""
    sft: SftConfig = field(default_factory=SftConfig)
    """Warm-start SFT."""

    def __post_init__(self) -> None:
        names = [m.name for m in self.family]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"family: duplicate model names {dupes}")
        missing = sorted(set(self.build) - set(names))
        if missing:
            raise ValueError(f"build: {missing} not in family {names}")

    def selected(self) -> tuple[ModelSpec, ...]:
        return tuple(m for m in self.family if not self.build or m.name in self.build)

    def spec(self, name: str) -> ModelSpec:
        for m in self.family:
            if m.name == name:
                return m
        raise KeyError(f"model {name!r} not in family {[m.name for m in self.family]}")
