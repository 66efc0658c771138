"""SAE training with sae-lens's `SAETrainer` over our own activation iterator, evaluation, loading.

The SAE is saved with `save_inference_model`, i.e. in sae-lens's own on-disk format, so any
sae-lens SAE (trained here, downloaded from its pretrained registry, or `SAE.from_pretrained` where
a hub is reachable) can be used by the features stage in its place.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from saerl.sae.config import SaeConfig


class SaeError(ValueError):
    """An SAE that does not fit the source model, or cannot be loaded; names both."""


class SaeMetrics(NamedTuple):
    mse: float
    explained_variance: float
    l0: float
    dead_fraction: float
    """Latents never active on the held-out tokens."""
    tokens: int


def check_width(cfg: SaeConfig, d_in: int) -> None:
    """A TopK/BatchTopK SAE keeps k of its d_sae latents: k must not exceed the width the source's
    d_model gives (checked before training, with both numbers, not in a sae-lens traceback)."""
    d_sae = cfg.d_sae or cfg.expansion * d_in
    if cfg.architecture in ("topk", "batchtopk") and cfg.k > d_sae:
        how = f"sae.d_sae={cfg.d_sae}" if cfg.d_sae else f"sae.expansion={cfg.expansion} x d_model {d_in}"
        raise ValueError(
            f"sae.k={cfg.k} is larger than the SAE's width {d_sae} ({how}): k of its latents fire"
        )


def _training_sae(cfg: SaeConfig, d_in: int, device: str, hook_name: str, model_name: str) -> Any:
    from sae_lens import (
        BatchTopKTrainingSAE,
        BatchTopKTrainingSAEConfig,
        JumpReLUTrainingSAE,
        JumpReLUTrainingSAEConfig,
        StandardTrainingSAE,
        StandardTrainingSAEConfig,
        TopKTrainingSAE,
        TopKTrainingSAEConfig,
    )
    from sae_lens.saes.sae import SAEMetadata

    d_sae = cfg.d_sae or cfg.expansion * d_in
    check_width(cfg, d_in)
    common: dict[str, Any] = {"d_in": d_in, "d_sae": d_sae, "device": device, "dtype": "float32"}
    common["metadata"] = SAEMetadata(hook_name=hook_name, model_name=model_name)
    if cfg.architecture == "topk":
        return TopKTrainingSAE(TopKTrainingSAEConfig(k=cfg.k, **common))
    if cfg.architecture == "batchtopk":
        return BatchTopKTrainingSAE(BatchTopKTrainingSAEConfig(k=cfg.k, **common))
    if cfg.architecture == "jumprelu":
        return JumpReLUTrainingSAE(
            JumpReLUTrainingSAEConfig(l0_coefficient=cfg.sparsity_coefficient, **common)
        )
    return StandardTrainingSAE(StandardTrainingSAEConfig(l1_coefficient=cfg.sparsity_coefficient, **common))


def train_sae(
    cfg: SaeConfig, batches: Iterator[Any], d_in: int, device: str, hook_name: str, model_name: str
) -> Any:
    """Train on ``batches`` ([batch_size_tokens, d_in] tensors) for cfg.training_tokens tokens."""
    import torch
    from sae_lens import LoggingConfig, SAETrainer
    from sae_lens.config import SAETrainerConfig

    torch.manual_seed(cfg.seed)
    sae = _training_sae(cfg, d_in, device, hook_name, model_name)
    steps = cfg.training_tokens // cfg.batch_size_tokens
    trainer_cfg = SAETrainerConfig(
        total_training_samples=steps * cfg.batch_size_tokens,
        train_batch_size_samples=cfg.batch_size_tokens,
        lr=cfg.lr,
        lr_end=cfg.lr * cfg.lr_end_fraction,
        lr_scheduler_name="cosineannealing",
        lr_warm_up_steps=min(100, steps // 10),
        device=device,
        dead_feature_window=cfg.dead_feature_window,
        feature_sampling_window=max(1, steps // 4),
        logger=LoggingConfig(log_to_wandb=False),  # our own tracking logs the final metrics
    )
    return SAETrainer(cfg=trainer_cfg, sae=sae, data_provider=batches).fit()


def evaluate_sae(sae: Any, acts: Any) -> SaeMetrics:
    """Reconstruction and sparsity on held-out token activations [n, d_in]."""
    import torch

    with torch.inference_mode():
        x = acts.to(next(sae.parameters()).device, torch.float32)
        feats = sae.encode(x)
        recon = sae.decode(feats)
        resid = ((x - recon) ** 2).sum()
        total = ((x - x.mean(0)) ** 2).sum()
        active = feats != 0
        return SaeMetrics(
            mse=float(((x - recon) ** 2).mean()),
            explained_variance=float(1 - resid / total),
            l0=float(active.sum(-1).float().mean()),
            dead_fraction=float((~active.any(0)).float().mean()),
            tokens=len(x),
        )


def save_sae(sae: Any, path: Path) -> None:
    """sae-lens's inference format: a training SAE is converted, an inference SAE saved as is."""
    if hasattr(sae, "save_inference_model"):
        sae.save_inference_model(str(path))
    else:
        sae.save_model(str(path))


def load_sae(source: str | Path, device: str = "cpu") -> Any:
    """A sae-lens folder (`SAE.load_from_disk`) or 'release:sae_id' (`SAE.from_pretrained`)."""
    from sae_lens import SAE

    source = str(source)
    try:
        if Path(source).is_dir():
            return SAE.load_from_disk(source, device=device)
        if ":" in source:
            release, sae_id = source.split(":", 1)
            return SAE.from_pretrained(release, sae_id, device=device)
    except Exception as exc:  # sae-lens raises many kinds; all mean "this SAE cannot be used"
        raise SaeError(f"{source}: cannot load SAE ({type(exc).__name__}: {exc})") from exc
    raise SaeError(f"{source}: not a folder in sae-lens format nor 'release:sae_id'")


def check_fits(sae: Any, d_model: int, where: str) -> None:
    """The SAE's input width must equal the source model's hidden size at the hooked layer."""
    d_in = int(sae.cfg.d_in)
    if d_in != d_model:
        raise SaeError(f"SAE d_in={d_in} does not match hidden size {d_model} of {where}")
