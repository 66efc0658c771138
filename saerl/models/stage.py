"""The models stage: the shared tokenizer, then each tiny model built, SFT-warm-started and saved
in HF format (safetensors), so later stages load it with `from_pretrained(dir)` like a hub model."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import NamedTuple

from saerl.config import SaerlConfig, to_dict
from saerl.data.grading import get_grader, resolve_grader_kind
from saerl.data.noise import OFF_TOPIC
from saerl.data.stage import load_split
from saerl.models.config import ModelSpec
from saerl.models.loading import load_tokenizer, resolve_device
from saerl.store import Artifact, ArtifactStore, BuildContext

TOKENIZER_VERSION = "1"
MODEL_VERSION = "1"


class ModelSummary(NamedTuple):
    name: str
    arch: str
    params: int
    sft_seconds: float
    accuracy: float
    path: str


def tokenizer_stage(cfg: SaerlConfig, store: ArtifactStore, data: Artifact) -> Artifact:
    def build(ctx: BuildContext) -> None:
        from saerl.models.tokenizer import train_tokenizer

        records = load_split(data, "sft") + load_split(data, "train")
        corpus = [r.prompt for r in records] + [r.meta["solution"] for r in records] + list(OFF_TOPIC)
        tok = train_tokenizer(corpus, cfg.models.tokenizer)
        tok.save_pretrained(ctx.path)
        ctx.info["vocab_size"] = len(tok)

    return store.get_or_build(
        "tokenizer", TOKENIZER_VERSION, to_dict(cfg.models.tokenizer), build, inputs=[data.key]
    )


def model_stage(
    cfg: SaerlConfig, store: ArtifactStore, spec: ModelSpec, data: Artifact, tokenizer: Artifact
) -> Artifact:
    def build(ctx: BuildContext) -> None:
        from saerl.models.generation import greedy_accuracy
        from saerl.models.sft import run_sft
        from saerl.models.tiny import build_model, n_params

        device = resolve_device(cfg.device)
        tok = load_tokenizer(tokenizer.path)
        model = build_model(spec, tok, seed=cfg.models.sft.seed).to(device)
        sft = run_sft(model, tok, load_split(data, "sft"), cfg.models.sft, desc=f"sft {spec.name}")
        grader = get_grader(resolve_grader_kind(cfg.data.grader, cfg.data.source))
        evals = load_split(data, "eval_id")[: cfg.models.sft.eval_items]
        acc = greedy_accuracy(model, tok, evals, grader, cfg.models.sft.max_new_tokens)
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

    config = {"spec": to_dict(spec), "sft": to_dict(cfg.models.sft)}
    return store.get_or_build("model", MODEL_VERSION, config, build, inputs=[data.key, tokenizer.key])


def models_stage(cfg: SaerlConfig, store: ArtifactStore, data: Artifact) -> dict[str, Artifact]:
    """Tokenizer plus every selected model of the family, in order; cached ones are reused."""
    if cfg.data.source != "arith":
        raise ValueError(
            f"models: the tiny family is trained on the miniature's data (data.source=arith), "
            f"not {cfg.data.source!r}; real runs name hub models or folders instead"
        )
    tok = tokenizer_stage(cfg, store, data)
    return {spec.name: model_stage(cfg, store, spec, data, tok) for spec in cfg.models.selected()}


def summarize(spec: ModelSpec, art: Artifact) -> ModelSummary:
    info = art.manifest["info"]
    return ModelSummary(
        spec.name, spec.arch, info["params"], info["sft_seconds"], info["accuracy_eval_id"], str(art.path)
    )


class ModelRef(NamedTuple):
    """A model to load with `from_pretrained(path)`, and the key that identifies it in the store."""

    name: str
    path: str
    key: str


def resolve_model(cfg: SaerlConfig, store: ArtifactStore, data: Artifact, name: str) -> ModelRef:
    """A family name builds (or reuses) the tiny model; anything else is an HF folder or hub id."""
    if name in {m.name for m in cfg.models.family}:
        tok = tokenizer_stage(cfg, store, data)
        art = model_stage(cfg, store, cfg.models.spec(name), data, tok)
        return ModelRef(name, str(art.path), art.key)
    path = Path(name)
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ValueError(f"{name}: folder has no config.json, so it is not an HF model")
        # Identify a local model by its config and weight files, not by where it happens to live.
        digest = hashlib.sha256((path / "config.json").read_bytes())
        for weights in sorted(path.glob("*.safetensors")):
            digest.update(f"{weights.name}:{weights.stat().st_size}".encode())
        return ModelRef(name, str(path), f"dir-{digest.hexdigest()[:16]}")
    if name.startswith((".", "/", "~")):
        raise ValueError(f"{name}: no such model folder")
    return ModelRef(name, name, f"hub-{name}")
