"""The labels and signals stages.

- labels: rollout difficulty labels (1 - pass rate over k samples) for a seeded subset of a split, or
  for all of it. Each is its own artifact, so its wall and accelerator seconds sit in its manifest:
  the subset is what the SAE route needs; labelling everything is the route the SAE replaces.
- signals: per train prompt, a cluster, a predicted difficulty and a quality score, plus the
  preliminary-study metrics (topic probe, difficulty correlations in and out of distribution,
  quality AUC) against their baselines. Output: signals.jsonl + metrics.json.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

import numpy as np

from saerl.config import SaerlConfig, to_dict
from saerl.data.grading import get_grader, resolve_grader_kind
from saerl.data.records import Record
from saerl.data.stage import data_stage, load_split
from saerl.models.loading import load_model, load_tokenizer, resolve_device
from saerl.models.stage import ModelRef, resolve_model
from saerl.sae.stage import features_stage
from saerl.store import Artifact, ArtifactStore, BuildContext

LABELS_VERSION = "1"
SIGNALS_VERSION = "2"  # 2: dense read-outs, 50-alpha ElasticNet grid


def label_model_ref(cfg: SaerlConfig, store: ArtifactStore, data: Artifact) -> ModelRef:
    name = cfg.signals.difficulty.label_model
    if name == "source":
        name = cfg.activations.source_model
    return resolve_model(cfg, store, data, name)


def subset(records: list[Record], n: int | None, seed: int, salt: str) -> list[Record]:
    """A seeded random subset of ``n`` records (all of them when n is None or too large)."""
    if n is None or n >= len(records):
        return list(records)
    rng = random.Random(f"{salt}/{seed}")
    return [records[i] for i in sorted(rng.sample(range(len(records)), n))]


def labels_stage(cfg: SaerlConfig, store: ArtifactStore, split: str, n: int | None) -> Artifact:
    """Rollout labels for ``n`` seeded records of ``split`` (None: every record)."""
    dcfg = cfg.signals.difficulty
    data = data_stage(cfg, store)
    ref = label_model_ref(cfg, store, data)

    def build(ctx: BuildContext) -> None:
        from saerl.signals.rollouts import failure_rates, sample_hf, sample_vllm

        records = subset(load_split(data, split), n, dcfg.seed, f"labels/{split}")
        device = resolve_device(cfg.device)
        tok = load_tokenizer(ref.path)
        prompts = [r.prompt for r in records]
        start = time.perf_counter()
        if dcfg.backend == "vllm":
            completions = sample_vllm(
                ref.path, tok, prompts, dcfg.samples, dcfg.temperature, dcfg.max_new_tokens, dcfg.seed
            )
        else:
            model = load_model(ref.path, device=device)
            completions = sample_hf(
                model,
                tok,
                prompts,
                dcfg.samples,
                dcfg.temperature,
                dcfg.max_new_tokens,
                dcfg.batch_size,
                dcfg.seed,
                progress=f"rollouts {split}",
            )
        seconds = time.perf_counter() - start
        grader = get_grader(resolve_grader_kind(cfg.data.grader, cfg.data.source))
        difficulty = failure_rates(completions, [r.answer for r in records], grader)
        with (ctx.path / "labels.jsonl").open("w") as fh:
            for rec, d in zip(records, difficulty, strict=True):
                fh.write(json.dumps({"id": rec.id, "difficulty": float(d)}) + "\n")
        (ctx.path / "examples.json").write_text(
            json.dumps(
                [
                    {"id": r.id, "prompt": r.prompt, "answer": r.answer, "completions": c[:2]}
                    for r, c in list(zip(records, completions, strict=True))[:20]
                ],
                indent=1,
            )
        )
        ctx.accelerator_seconds = seconds if device.startswith("cuda") else 0.0
        ctx.info.update(
            split=split,
            n=len(records),
            label_model=ref.name,
            seconds=round(seconds, 2),
            prompts_per_s=round(len(records) / seconds, 2),
            mean_difficulty=float(difficulty.mean()),
            all_fail=float((difficulty == 1).mean()),
            all_pass=float((difficulty == 0).mean()),
        )

    config = {
        "split": split,
        "n": n,
        "samples": dcfg.samples,
        "temperature": dcfg.temperature,
        "max_new_tokens": dcfg.max_new_tokens,
        "backend": dcfg.backend,
        "seed": dcfg.seed,
    }
    return store.get_or_build("labels", LABELS_VERSION, config, build, inputs=[data.key, ref.key])


def read_labels(art: Artifact) -> dict[str, float]:
    rows = [json.loads(line) for line in (art.path / "labels.jsonl").read_text().splitlines()]
    return {r["id"]: r["difficulty"] for r in rows}


def signals_stage(cfg: SaerlConfig, store: ArtifactStore) -> Artifact:
    dcfg = cfg.signals.difficulty
    data = data_stage(cfg, store)
    feats_art = features_stage(cfg, store)
    inputs = [data.key, feats_art.key]
    label_arts: dict[str, Artifact] = {}
    if dcfg.labels == "rollouts":
        label_arts["train"] = labels_stage(cfg, store, "train", dcfg.n_labelled)
        if dcfg.ood_split:
            label_arts["ood"] = labels_stage(cfg, store, dcfg.ood_split, dcfg.n_ood_labelled)
    if dcfg.label_all:
        label_arts["all"] = labels_stage(cfg, store, "train", None)
    inputs += [a.key for a in label_arts.values()]

    def build(ctx: BuildContext) -> None:
        from saerl.signals.compute import compute_signals

        labels = {name: read_labels(art) for name, art in label_arts.items()}
        result = compute_signals(cfg, data, feats_art, labels, negatives=synth_negatives(cfg, store, data))
        with (ctx.path / "signals.jsonl").open("w") as fh:
            for row in result.rows:
                fh.write(json.dumps(row) + "\n")
        (ctx.path / "metrics.json").write_text(json.dumps(result.metrics, indent=2))
        ctx.info.update(metrics=result.metrics)

    return store.get_or_build("signals", SIGNALS_VERSION, to_dict(cfg.signals), build, inputs=inputs)


def synth_negatives(cfg: SaerlConfig, store: ArtifactStore, data: Artifact) -> tuple[Any, list[str]] | None:
    """Real data has no noise ground truth: corrupt a seeded share of clean prompts (METHOD.md
    section 4) and featurise them, as the quality probe's negatives. None for the miniature."""
    from saerl.data.noise import PROMPT_CORRUPTIONS, corrupt_prompt
    from saerl.sae.stage import featurize

    train = load_split(data, "train")
    if "noise" in train[0].meta:
        return None
    qcfg = cfg.signals.quality
    rng = random.Random(f"quality-negatives/{qcfg.seed}")
    n = max(2, round(qcfg.synth_noise_rate * min(qcfg.n_labelled, len(train))))
    prompts = [corrupt_prompt(rng, rng.choice(PROMPT_CORRUPTIONS), r.prompt) for r in rng.sample(train, n)]
    feats = featurize(cfg, store, prompts, [f"neg-{i}" for i in range(n)])
    return feats.z, prompts


def read_signals(art: Artifact) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (art.path / "signals.jsonl").read_text().splitlines()]


def as_array(rows: list[dict[str, Any]], key: str) -> np.ndarray:
    return np.array([np.nan if r[key] is None else r[key] for r in rows], dtype=float)
