"""Load any HF causal LM (hub id or local folder) and format prompts the way the RL trainer does."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class ModelError(ValueError):
    """A model that cannot be loaded or used, naming it."""


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_tokenizer(name_or_path: str | Path, trust_remote_code: bool = False) -> Any:
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(str(name_or_path), trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{name_or_path}: cannot load tokenizer ({exc})") from exc
    if tok.pad_token is None:  # many base models ship without one; padding side matters, id does not
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return tok


def load_model(
    name_or_path: str | Path,
    device: str = "auto",
    dtype: str = "auto",
    trust_remote_code: bool = False,
) -> Any:
    """Causal LM in eval mode; weights from safetensors only. dtype 'auto': bf16 on GPU, fp32 on CPU."""
    import torch
    from transformers import AutoModelForCausalLM

    device = resolve_device(device)
    if dtype == "auto":
        dtype = "bfloat16" if device.startswith("cuda") else "float32"
    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(name_or_path),
            dtype=getattr(torch, dtype),
            use_safetensors=True,
            trust_remote_code=trust_remote_code,
        )
    except (OSError, ValueError) as exc:
        raise ModelError(f"{name_or_path}: cannot load model ({exc})") from exc
    return model.to(device).eval()  # type: ignore[arg-type]


def format_prompt(tokenizer: Any, prompt: str, chat_template: bool = True) -> str:
    """The exact text the RL trainer feeds the model: chat-templated user turn + assistant header."""
    if not chat_template:
        return prompt
    if getattr(tokenizer, "chat_template", None) is None:
        raise ModelError("chat_template=true but the tokenizer has no chat template")
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
    )


def model_facts(path: str | Path) -> dict[str, Any]:
    """{'family': config.json's model_type, 'scale': parameter count} of a local HF folder, read
    from config.json and the safetensors headers without loading weights; None where unknown
    (e.g. a hub id not yet downloaded)."""
    import json
    import math

    folder = Path(path)
    facts: dict[str, Any] = {"family": None, "scale": None}
    if (folder / "config.json").is_file():
        facts["family"] = json.loads((folder / "config.json").read_text()).get("model_type")
    shards = sorted(folder.glob("*.safetensors")) if folder.is_dir() else []
    if shards:
        total = 0
        for shard in shards:
            with shard.open("rb") as fh:
                header = json.loads(fh.read(int.from_bytes(fh.read(8), "little")))
            total += sum(math.prod(t["shape"]) for k, t in header.items() if k != "__metadata__")
        facts["scale"] = total
    return facts
