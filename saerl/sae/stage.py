"""The activations -> SAE -> features stages, each a store artifact keyed by its inputs.

- activations: checks the source model, layer and prompts (empty after masking, non-finite values),
  counts tokens, and keeps a small sample of held-out token activations for evaluating the SAE;
- sae: trains an SAE with sae-lens on streamed, shuffled token activations (or takes a pretrained
  one), evaluates it on the held-out sample and saves it in sae-lens's format;
- features: pooled SAE features z (sparse) for every configured split, keyed by (data, S, L, SAE).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from typing import Any, NamedTuple

from saerl.config import SaerlConfig, to_dict
from saerl.data.records import Record
from saerl.data.stage import data_stage, load_split
from saerl.models.loading import load_model, load_tokenizer, resolve_device
from saerl.models.stage import ModelRef, resolve_model
from saerl.store import Artifact, ArtifactStore, BuildContext

ACTIVATIONS_VERSION = "1"
SAE_VERSION = "1"
FEATURES_VERSION = "1"


class Source(NamedTuple):
    ref: ModelRef
    model: Any
    tokenizer: Any
    layer: int
    hook_name: str


def load_source(cfg: SaerlConfig, ref: ModelRef) -> Source:
    from saerl.sae.activations import resolve_layer

    acfg = cfg.activations
    device = resolve_device(cfg.device)
    model = load_model(ref.path, device=device, dtype=acfg.dtype, trust_remote_code=acfg.trust_remote_code)
    tok = load_tokenizer(ref.path, trust_remote_code=acfg.trust_remote_code)
    layer = resolve_layer(model, acfg.layer)
    return Source(ref, model, tok, layer, f"model.layers.{layer}")


def sae_prompts(cfg: SaerlConfig, data: Artifact) -> tuple[list[Record], list[Record]]:
    """(training, held-out) records for the SAE: a seeded split of the configured data splits."""
    records = [r for split in cfg.activations.sae_splits for r in load_split(data, split)]
    rng = random.Random(f"sae-holdout/{cfg.sae.seed}")
    order = list(range(len(records)))
    rng.shuffle(order)
    n_eval = max(1, round(cfg.activations.eval_fraction * len(records)))
    held = set(order[:n_eval])
    return [r for i, r in enumerate(records) if i not in held], [records[i] for i in sorted(held)]


def _accelerator_seconds(device: str, seconds: float) -> float:
    return seconds if device.startswith("cuda") else 0.0


def source_activations(
    src: Source, records: list[Record], cfg: SaerlConfig, progress: str | None = None
) -> Iterator[Any]:
    """Per prompt, the [n_tokens, d] layer-L activations of its prompt tokens (checks included)."""
    from saerl.sae.activations import iter_activations

    prompts, ids = [r.prompt for r in records], [r.id for r in records]
    for batch in iter_activations(
        src.model, src.tokenizer, prompts, src.layer, cfg.activations, ids=ids, progress=progress
    ):
        yield from batch.acts


def activations_stage(cfg: SaerlConfig, store: ArtifactStore) -> Artifact:
    data = data_stage(cfg, store)
    ref = resolve_model(cfg, store, data, cfg.activations.source_model)

    def build(ctx: BuildContext) -> None:
        import torch
        from safetensors.torch import save_file

        from saerl.sae.activations import decoder_layers, hidden_size

        src = load_source(cfg, ref)
        train, held = sae_prompts(cfg, data)
        start = time.perf_counter()
        n_tokens = sum(len(a) for a in source_activations(src, train, cfg, progress="activations"))
        seconds = time.perf_counter() - start
        eval_chunks = list(source_activations(src, held, cfg))
        eval_acts = torch.cat(eval_chunks)[: cfg.activations.eval_tokens].contiguous()
        save_file({"activations": eval_acts}, str(ctx.path / "eval_tokens.safetensors"))
        ctx.accelerator_seconds = _accelerator_seconds(resolve_device(cfg.device), seconds)
        ctx.info.update(
            source_model=ref.name,
            layer=src.layer,
            hook_name=src.hook_name,
            d_model=hidden_size(src.model),
            n_layers=len(decoder_layers(src.model)),
            train_prompts=len(train),
            held_out_prompts=len(held),
            train_tokens_per_epoch=n_tokens,
            eval_tokens=len(eval_acts),
            prompts_per_s=round(len(train) / seconds, 1),
        )

    return store.get_or_build(
        "activations", ACTIVATIONS_VERSION, to_dict(cfg.activations), build, inputs=[data.key, ref.key]
    )


def token_stream(src: Source, prompts: list[str], cfg: SaerlConfig) -> Iterator[Any]:
    """Endless [batch_size_tokens, d] batches: epochs over the prompts, shuffled through a buffer."""
    import torch

    from saerl.sae.activations import iter_activations, shuffled_batches

    def chunks() -> Iterator[Any]:
        epoch = 0
        while True:
            order = list(range(len(prompts)))
            random.Random(f"sae-epoch/{cfg.sae.seed}/{epoch}").shuffle(order)
            for batch in iter_activations(
                src.model, src.tokenizer, [prompts[i] for i in order], src.layer, cfg.activations
            ):
                yield torch.cat(batch.acts)
            epoch += 1

    yield from shuffled_batches(
        chunks(), cfg.activations.shuffle_buffer_tokens, cfg.sae.batch_size_tokens, seed=cfg.sae.seed
    )


def sae_stage(cfg: SaerlConfig, store: ArtifactStore) -> Artifact:
    data = data_stage(cfg, store)
    ref = resolve_model(cfg, store, data, cfg.activations.source_model)
    acts = activations_stage(cfg, store)

    def build(ctx: BuildContext) -> None:
        from safetensors.torch import load_file

        from saerl.sae.training import check_fits, evaluate_sae, load_sae, save_sae, train_sae

        device = resolve_device(cfg.device)
        info = acts.manifest["info"]
        where = f"{ref.name} at {info['hook_name']}"
        start = time.perf_counter()
        if cfg.sae.pretrained:
            sae = load_sae(cfg.sae.pretrained, device=device)
            check_fits(sae, info["d_model"], where)
        else:
            src = load_source(cfg, ref)
            train, _ = sae_prompts(cfg, data)
            stream = token_stream(src, [r.prompt for r in train], cfg)
            sae = train_sae(cfg.sae, stream, info["d_model"], device, info["hook_name"], ref.name)
        seconds = time.perf_counter() - start
        save_sae(sae, ctx.path / "sae")
        # Evaluate what was saved, since that is what scoring loads (BatchTopK saves as JumpReLU).
        sae = load_sae(ctx.path / "sae", device=device)
        metrics = evaluate_sae(sae, load_file(str(acts.path / "eval_tokens.safetensors"))["activations"])
        (ctx.path / "metrics.json").write_text(json.dumps(metrics._asdict(), indent=2))
        ctx.accelerator_seconds = _accelerator_seconds(device, seconds)
        ctx.info.update(
            metrics._asdict(),
            train_seconds=round(seconds, 1),
            d_sae=int(sae.cfg.d_sae),
            d_in=int(sae.cfg.d_in),
            hook_name=info["hook_name"],
            source_model=ref.name,
        )

    return store.get_or_build("sae", SAE_VERSION, to_dict(cfg.sae), build, inputs=[acts.key])


def features_stage(cfg: SaerlConfig, store: ArtifactStore) -> Artifact:
    data = data_stage(cfg, store)
    ref = resolve_model(cfg, store, data, cfg.activations.source_model)
    acts = activations_stage(cfg, store)
    sae_art = sae_stage(cfg, store)

    def build(ctx: BuildContext) -> None:
        from saerl.sae.features import prompt_features, save_features
        from saerl.sae.training import check_fits, load_sae

        device = resolve_device(cfg.device)
        src = load_source(cfg, ref)
        sae = load_sae(sae_art.path / "sae", device=device)
        check_fits(sae, int(src.model.config.hidden_size), f"{ref.name} at {src.hook_name}")
        per_split = {}
        total_seconds = 0.0
        for split in cfg.features.splits:
            records = load_split(data, split)
            feats = prompt_features(
                src.model,
                src.tokenizer,
                sae,
                [r.prompt for r in records],
                [r.id for r in records],
                src.layer,
                cfg.activations,
                cfg.features.pooling,
                progress=f"features {split}",
            )
            save_features(feats, ctx.path, split)
            total_seconds += feats.seconds
            per_split[split] = {
                "rows": feats.z.shape[0],
                "d_sae": feats.z.shape[1],
                "nnz_per_row": round(feats.z.nnz / max(1, feats.z.shape[0]), 1),
                "prompts_per_s": round(len(records) / feats.seconds, 1),
            }
        ctx.accelerator_seconds = _accelerator_seconds(device, total_seconds)
        ctx.info.update(splits=per_split, seconds=round(total_seconds, 2), layer=src.layer)

    return store.get_or_build(
        "features",
        FEATURES_VERSION,
        to_dict(cfg.features),
        build,
        inputs=[data.key, ref.key, acts.key, sae_art.key],
    )


def featurize(cfg: SaerlConfig, store: ArtifactStore, prompts: list[str], ids: list[str]) -> Any:
    """Pooled SAE features of arbitrary prompts (e.g. synthesised ones), with the configured S and SAE."""
    from saerl.sae.features import prompt_features
    from saerl.sae.training import load_sae

    data = data_stage(cfg, store)
    src = load_source(cfg, resolve_model(cfg, store, data, cfg.activations.source_model))
    sae = load_sae(sae_stage(cfg, store).path / "sae", device=resolve_device(cfg.device))
    return prompt_features(
        src.model, src.tokenizer, sae, prompts, ids, src.layer, cfg.activations, cfg.features.pooling
    )
