"""Config of the SAE stage: source-model activations, SAE training, pooled per-prompt features."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from saerl.configlib import NOT_IN_KEY, check_range


@dataclass(frozen=True)
class ActivationsConfig:
    """How the source model S is run over prompts (docs/method.md section 1)."""

    source_model: str = "qwen2-xs"
    """A name from models.family (the miniature), a local HF folder, or a hub id."""
    layer: int = -1
    """Decoder layer L whose residual output (`model.layers.L`) is read; -1 picks round(0.55 * depth)
    (KNOWN: 'intermediate layer'; 0.55 is OUR CHOICE, inside docs/method.md's 0.5-0.6)."""
    chat_template: bool = True
    """Format prompts with the tokenizer's chat template, exactly as the RL trainer sees them."""
    tokens: Literal["content", "non_special"] = "content"
    """Which tokens count as the prompt: 'content' = only the user text (template and special tokens
    masked; OUR CHOICE: the template is identical for every prompt and would only dilute z),
    'non_special' = every token that is not a special token or padding."""
    batch_size: int = 64
    """Prompts per forward pass (batched by length to limit padding)."""
    max_length: int = 1024
    """Prompts longer than this many tokens are truncated (from the right)."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """'auto': bf16 on GPU, fp32 on CPU."""
    sae_splits: tuple[str, ...] = ("train", "sft")
    """Data splits whose prompt tokens train the SAE (the miniature's sft split adds clean variety)."""
    shuffle_buffer_tokens: int = 16384
    """Token activations are streamed through a shuffle buffer of this many rows (never all in memory)."""
    eval_fraction: float = 0.1
    """Fraction of the SAE's prompts held out (never trained on) to evaluate it."""
    eval_tokens: int = 8192
    """At most this many held-out token activations are kept in the activations artifact."""
    trust_remote_code: bool = False
    """Only for hub models that need it; off unless a user turns it on."""

    def __post_init__(self) -> None:
        check_range(self, "layer", low=-1)
        check_range(self, "batch_size max_length shuffle_buffer_tokens eval_tokens", low=1)
        check_range(self, "eval_fraction", low=0, high=1, low_open=True, high_open=True)
        if not self.sae_splits:
            raise ValueError("sae_splits: name at least one data split")


@dataclass(frozen=True)
class SaeConfig:
    """The SAE, trained with sae-lens on streamed activations, or loaded from disk/hub."""

    architecture: Literal["topk", "batchtopk", "jumprelu", "standard"] = "topk"
    """sae-lens training architecture (TopK default; BatchTopK reloads as JumpReLU)."""
    d_sae: int = 0
    """Dictionary width; 0 means expansion * d_in."""
    expansion: int = 2
    """Width multiplier used when d_sae is 0. OUR CHOICE for the miniature, whose residual stream
    spans few directions: at k=16, widths of 8x/4x/2x left 44%/31%/26% of latents never firing on
    held-out tokens; 2x with k=32 left 9%. Real models want 8-32x."""
    k: int = 32
    """Active latents per token for topk/batchtopk."""
    sparsity_coefficient: float = 5.0
    """L1 coefficient (standard) or L0 coefficient (jumprelu); unused by topk/batchtopk."""
    lr: float = 1e-3
    """Adam learning rate."""
    lr_end_fraction: float = 0.1
    """Cosine decay target, as a fraction of lr."""
    training_tokens: int = 1_500_000
    """Token activations seen in training (epochs over the prompts as needed)."""
    batch_size_tokens: int = 1024
    """Token activations per SAE optimizer step."""
    dead_feature_window: int = 250
    """Steps without firing after which sae-lens treats a latent as dead (TopK's auxiliary loss
    then trains it on the residual error)."""
    seed: int = 0
    """Initialisation and shuffling seed."""
    pretrained: str = ""
    """Use this SAE instead of training one: a folder in sae-lens's format (`SAE.load_from_disk`) or
    'release:sae_id' for `SAE.from_pretrained` where a hub is reachable."""

    def __post_init__(self) -> None:
        check_range(self, "d_sae", low=0)
        check_range(self, "expansion batch_size_tokens dead_feature_window", low=1)
        check_range(self, "lr sparsity_coefficient", low=0, low_open=True)
        check_range(self, "lr_end_fraction", low=0, high=1, low_open=True)
        if self.architecture in ("topk", "batchtopk") and self.k < 1:
            raise ValueError(f"k: must be >= 1 for {self.architecture}")
        if self.architecture in ("topk", "batchtopk") and self.d_sae and self.k > self.d_sae:
            raise ValueError(
                f"k={self.k} is larger than the SAE's width d_sae={self.d_sae}: k of its latents fire"
            )
        if self.training_tokens < self.batch_size_tokens:
            raise ValueError("training_tokens: must be at least batch_size_tokens")


@dataclass(frozen=True)
class FeaturesConfig:
    """Pooled per-prompt SAE features z_i (docs/method.md section 1)."""

    pooling: Literal["mean", "max"] = "mean"
    """How token-level SAE activations become one vector per prompt."""
    splits: tuple[str, ...] = ("train", "eval_id", "eval_ood")
    """Data splits to featurise."""
    chunk_tokens: int = field(default=4096, metadata=NOT_IN_KEY)
    """Tokens the SAE encodes at once: the dense [tokens x d_sae] pre-activations exist for one chunk
    at a time (4096 x 16,384 latents in fp32 = 256 MB), never for a whole batch of long prompts.
    Speed only; not part of the artifact key."""
    shard_prompts: int = field(default=8192, metadata=NOT_IN_KEY)
    """Prompts per shard written while the features stage runs: a killed build resumes from its last
    complete shard instead of starting over. Speed only; not part of the artifact key."""

    def __post_init__(self) -> None:
        if not self.splits or "train" not in self.splits:
            raise ValueError(f"splits: must include 'train' (the RL pool), got {list(self.splits)}")
        check_range(self, "chunk_tokens shard_prompts", low=1)
