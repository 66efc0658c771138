"""The miniature's tiny model family: Qwen2 and Llama causal LMs built from transformers configs."""

from __future__ import annotations

from typing import Any

from saerl.models.config import ModelSpec
from saerl.models.tokenizer import IM_END, PAD

MAX_POSITIONS = 512


def build_model(spec: ModelSpec, tokenizer: Any, seed: int) -> Any:
    """A freshly initialised model of ``spec`` whose vocabulary matches ``tokenizer``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    classes = {"qwen2": (Qwen2Config, Qwen2ForCausalLM), "llama": (LlamaConfig, LlamaForCausalLM)}
    config_cls, model_cls = classes[spec.arch]
    config = config_cls(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_heads,
        max_position_embeddings=MAX_POSITIONS,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.convert_tokens_to_ids(PAD),
        eos_token_id=tokenizer.convert_tokens_to_ids(IM_END),
        bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = model_cls(config)
    model.generation_config.eos_token_id = config.eos_token_id
    model.generation_config.pad_token_id = config.pad_token_id
    return model


def n_params(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())
