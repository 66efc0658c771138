"""The models stage: the shared tokenizer, then each tiny model built, SFT-warm-started and saved
in HF format (safetensors), so later stages load it with `from_pretrained(dir)` like a hub model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from saerl.data.grading import get_grader
from saerl.data.noise import OFF_TOPIC
from saerl.data.stage import load_split
from saerl.fingerprint import FingerprintCache, fingerprint, hub_revision
from saerl.models.config import ModelSpec, SftConfig
from saerl.models.loading import load_tokenizer
from saerl.store import Artifact, BuildContext

TOKENIZER_VERSION = "1"
MODEL_VERSION = "1"


class ModelSummary(NamedTuple):
    name: str
    arch: str
    params: int
    sft_seconds: float
    accuracy: float
    path: str


def build_tokenizer(
    ctx: BuildContext, params: dict[str, Any], inputs: dict[str, Artifact], device: str
) -> None:
    from saerl.models.tokenizer import train_tokenizer

    data = inputs["data"]
    records = load_split(data, "sft") + load_split(data, "train")
    corpus = [r.prompt for r in records] + [r.meta["solution"] for r in records] + list(OFF_TOPIC)
    tok = train_tokenizer(corpus, params["tokenizer"])
    tok.save_pretrained(ctx.path)
    ctx.info["vocab_size"] = len(tok)


def build_model(ctx: BuildContext, params: dict[str, Any], inputs: dict[str, Artifact], device: str) -> None:
    """One tiny model of the family (``params['spec']``), SFT-warm-started and saved in HF format."""
    from saerl.models.generation import greedy_accuracy
    from saerl.models.sft import run_sft
    from saerl.models.tiny import build_model as build_tiny
    from saerl.models.tiny import n_params

    spec: ModelSpec = params["spec"]
    sft_cfg: SftConfig = params["sft"]
    data = inputs["data"]
    tok = load_tokenizer(inputs["tokenizer"].path)
    model = build_tiny(spec, tok, seed=sft_cfg.seed).to(device)
    sft = run_sft(model, tok, load_split(data, "sft"), sft_cfg, desc=f"sft {spec.name}")
    evals = load_split(data, "eval_id")[: sft_cfg.eval_items]
    acc = greedy_accuracy(model, tok, evals, get_grader(params["grader"]), sft_cfg.max_new_tokens)
    model.save_pretrained(ctx.path)
    tok.save_pretrained(ctx.path)
    if device.startswith("cuda"):
        ctx.accelerator_seconds = sft.seconds
    ctx.info.update(
        params=n_params(model),
        sft_seconds=round(sft.seconds, 1),
        sft_tokens=sft.tokens,
        final_loss=round(sft.final_loss, 4),
        accuracy_eval_id=acc,
        eval_items=len(evals),
    )


def summarize(spec: ModelSpec, art: Artifact) -> ModelSummary:
    info = art.manifest["info"]
    return ModelSummary(
        spec.name, spec.arch, info["params"], info["sft_seconds"], info["accuracy_eval_id"], str(art.path)
    )


def external_model_key(name: str, cache: FingerprintCache | None = None) -> str:
    """The store key of a model saerl does not build: a local HF folder is identified by the
    contents of its files (not by where it lives: rewritten weights are another model); anything
    else is a hub id."""
    path = Path(name)
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ValueError(f"{name}: folder has no config.json, so it is not an HF model")
        return f"dir-{fingerprint(path, cache)}"
    if name.startswith((".", "/", "~")) or path.exists():
        raise ValueError(f"{name}: no such model folder")
    revision = hub_revision(name)
    return f"hub-{name}@{revision}" if revision else f"hub-{name}"


def check_external_model(name: str, family: Sequence[str] = ()) -> None:
    """Fail early, naming the model, when ``name`` is neither a usable folder nor a loadable hub id
    (offline, a hub id loads only from the local cache)."""
    if Path(name).is_dir():
        return
    from saerl.models.loading import ModelError

    try:
        from transformers import AutoConfig

        AutoConfig.from_pretrained(name)
    except (OSError, ValueError) as exc:
        known = f"a model of models.family ({', '.join(family)}), " if family else ""
        raise ModelError(
            f"model {name!r} is not {known}a local HF folder, nor a hub id that can be loaded here "
            f"({str(exc).splitlines()[0]})"
        ) from None


def model_name(model: Artifact) -> str:
    """What to call a model artifact in messages: its family name, or the folder / hub id."""
    spec = model.manifest.get("config", {}).get("spec")
    return spec["name"] if spec else str(model.manifest.get("external", model.path))
