"""The activations -> SAE -> features stages, each a store artifact keyed by its inputs.

- activations: checks the source model, layer and prompts (empty after masking, non-finite values),
  counts tokens, and keeps a small sample of held-out token activations for evaluating the SAE;
- sae: trains an SAE with sae-lens on streamed, shuffled token activations (or takes a pretrained
  one), evaluates it on the held-out sample and saves it in sae-lens's format;
- features: pooled SAE features z (sparse) for every configured split, keyed by (data, S, L, SAE);
  written in shards as it goes, so a killed build resumes where it stopped.

Builders receive their parameters and resolved input artifacts from the stage graph
(``saerl.launch.graph``): ``source`` is the model artifact (a built tiny model or an external folder).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from saerl.data.records import Record
from saerl.data.stage import load_split
from saerl.models.loading import load_model, load_tokenizer
from saerl.models.stage import model_name
from saerl.sae.config import ActivationsConfig, FeaturesConfig, SaeConfig
from saerl.store import Artifact, BuildContext

ACTIVATIONS_VERSION = "2"  # 2: keyed by the stage graph (hold-out seed in the key)
SAE_VERSION = "2"
FEATURES_VERSION = "2"


class Source(NamedTuple):
    name: str
    model: Any
    tokenizer: Any
    layer: int
    hook_name: str


def load_source(model: Artifact, acfg: ActivationsConfig, device: str) -> Source:
    from saerl.sae.activations import resolve_layer

    path = str(model.path)
    lm = load_model(path, device=device, dtype=acfg.dtype, trust_remote_code=acfg.trust_remote_code)
    tok = load_tokenizer(path, trust_remote_code=acfg.trust_remote_code)
    layer = resolve_layer(lm, acfg.layer)
    return Source(model_name(model), lm, tok, layer, f"model.layers.{layer}")


def sae_prompts(
    data: Artifact, acfg: ActivationsConfig, holdout_seed: int
) -> tuple[list[Record], list[Record]]:
    """(training, held-out) records for the SAE: a seeded split of the configured data splits."""
    records = [r for split in acfg.sae_splits for r in load_split(data, split)]
    rng = random.Random(f"sae-holdout/{holdout_seed}")
    order = list(range(len(records)))
    rng.shuffle(order)
    n_eval = max(1, round(acfg.eval_fraction * len(records)))
    held = set(order[:n_eval])
    return [r for i, r in enumerate(records) if i not in held], [records[i] for i in sorted(held)]


def _accelerator_seconds(device: str, seconds: float) -> float:
    return seconds if device.startswith("cuda") else 0.0


def source_activations(
    src: Source, records: list[Record], acfg: ActivationsConfig, progress: str | None = None
) -> Iterator[Any]:
    """Per prompt, the [n_tokens, d] layer-L activations of its prompt tokens (checks included)."""
    from saerl.sae.activations import iter_activations

    prompts, ids = [r.prompt for r in records], [r.id for r in records]
    for batch in iter_activations(
        src.model, src.tokenizer, prompts, src.layer, acfg, ids=ids, progress=progress
    ):
        yield from batch.acts


def build_activations(
    ctx: BuildContext, params: dict[str, Any], inputs: dict[str, Artifact], device: str
) -> None:
    import torch
    from safetensors.torch import save_file

    from saerl.sae.activations import decoder_layers, hidden_size

    acfg: ActivationsConfig = params["activations"]
    src = load_source(inputs["source"], acfg, device)
    train, held = sae_prompts(inputs["data"], acfg, params["holdout_seed"])
    start = time.perf_counter()
    n_tokens = sum(len(a) for a in source_activations(src, train, acfg, progress="activations"))
    seconds = time.perf_counter() - start
    eval_acts = torch.cat(list(source_activations(src, held, acfg)))[: acfg.eval_tokens].contiguous()
    save_file({"activations": eval_acts}, str(ctx.path / "eval_tokens.safetensors"))
    ctx.accelerator_seconds = _accelerator_seconds(device, seconds)
    ctx.info.update(
        source_model=src.name,
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


def token_stream(src: Source, prompts: list[str], acfg: ActivationsConfig, scfg: SaeConfig) -> Iterator[Any]:
    """Endless [batch_size_tokens, d] batches: epochs over the prompts, shuffled through a buffer."""
    import torch

    from saerl.sae.activations import encode_prompts, iter_activations, shuffled_batches

    encoded = encode_prompts(src.tokenizer, prompts, acfg)  # once, not per epoch

    def chunks() -> Iterator[Any]:
        epoch = 0
        while True:
            order = list(range(len(prompts)))
            random.Random(f"sae-epoch/{scfg.seed}/{epoch}").shuffle(order)
            for batch in iter_activations(
                src.model,
                src.tokenizer,
                [prompts[i] for i in order],
                src.layer,
                acfg,
                encoded=[encoded[i] for i in order],
            ):
                yield torch.cat(batch.acts)
            epoch += 1

    yield from shuffled_batches(chunks(), acfg.shuffle_buffer_tokens, scfg.batch_size_tokens, seed=scfg.seed)


def build_sae(ctx: BuildContext, params: dict[str, Any], inputs: dict[str, Artifact], device: str) -> None:
    from safetensors.torch import load_file

    from saerl.sae.training import check_fits, evaluate_sae, load_sae, save_sae, train_sae

    scfg: SaeConfig = params["sae"]
    acfg: ActivationsConfig = params["activations"]
    acts = inputs["activations"]
    info = acts.manifest["info"]
    source = model_name(inputs["source"])
    start = time.perf_counter()
    if scfg.pretrained:
        sae = load_sae(scfg.pretrained, device=device)
        check_fits(sae, info["d_model"], f"{source} at {info['hook_name']}")
    else:
        src = load_source(inputs["source"], acfg, device)
        train, _ = sae_prompts(inputs["data"], acfg, params["holdout_seed"])
        stream = token_stream(src, [r.prompt for r in train], acfg, scfg)
        sae = train_sae(scfg, stream, info["d_model"], device, info["hook_name"], source)
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
        source_model=source,
    )


class Scorer(NamedTuple):
    """The source model and its SAE, loaded once, to pool SAE features of any prompts."""

    src: Source
    sae: Any
    acfg: ActivationsConfig
    pooling: str

    @classmethod
    def load(
        cls, source: Artifact, sae_art: Artifact, acfg: ActivationsConfig, pooling: str, device: str
    ) -> Scorer:
        from saerl.sae.training import check_fits, load_sae

        src = load_source(source, acfg, device)
        sae = load_sae(sae_art.path / "sae", device=device)
        check_fits(sae, int(src.model.config.hidden_size), f"{src.name} at {src.hook_name}")
        return cls(src, sae, acfg, pooling)

    def features(
        self,
        prompts: list[str],
        ids: list[str],
        progress: str | None = None,
        fcfg: FeaturesConfig | None = None,
        shards: Path | None = None,
    ) -> Any:
        """Pooled features of ``prompts``; with ``shards``, resumable (see `prompt_features`)."""
        from saerl.sae.features import prompt_features

        s, fcfg = self.src, fcfg or FeaturesConfig()
        return prompt_features(
            s.model,
            s.tokenizer,
            self.sae,
            prompts,
            ids,
            s.layer,
            self.acfg,
            self.pooling,
            progress=progress,
            chunk_tokens=fcfg.chunk_tokens,
            shards=shards,
            shard_prompts=fcfg.shard_prompts,
        )


def build_features(
    ctx: BuildContext, params: dict[str, Any], inputs: dict[str, Artifact], device: str
) -> None:
    from saerl.sae.features import save_features

    fcfg: FeaturesConfig = params["features"]
    scorer = Scorer.load(inputs["source"], inputs["sae"], params["activations"], fcfg.pooling, device)
    per_split = {}
    total_seconds = 0.0
    for split in fcfg.splits:
        records = load_split(inputs["data"], split)
        shards = ctx.scratch / split if ctx.scratch is not None else None
        prompts, ids = [r.prompt for r in records], [r.id for r in records]
        feats = scorer.features(prompts, ids, f"features {split}", fcfg, shards)
        save_features(feats, ctx.path, split)
        total_seconds += feats.seconds
        per_split[split] = {
            "rows": feats.z.shape[0],
            "d_sae": feats.z.shape[1],
            "nnz_per_row": round(feats.z.nnz / max(1, feats.z.shape[0]), 1),
            "prompts_per_s": round((len(records) - feats.reused) / max(feats.seconds, 1e-9), 1),
            "reused_from_shards": feats.reused,
        }
    ctx.accelerator_seconds = _accelerator_seconds(device, total_seconds)
    ctx.info.update(splits=per_split, seconds=round(total_seconds, 2), layer=scorer.src.layer)
