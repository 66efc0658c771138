"""The labels and signals stages.

- labels: rollout difficulty labels (1 - pass rate over k samples) for a seeded subset of a split, or
  for all of it. Each is its own artifact, so its wall and accelerator seconds sit in its manifest:
  the subset is what the SAE route needs; labelling everything is the route the SAE replaces.
- signals: per train prompt, a cluster, a predicted difficulty and a quality score, plus the
  preliminary-study metrics (topic probe, difficulty correlations in and out of distribution,
  quality AUC) against their baselines. Output: signals.jsonl + metrics.json.

Which labels exist (train subset, OOD subset, every prompt) is decided by the stage graph; the
builders receive them as input artifacts by role.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

import numpy as np

from saerl.data.grading import get_grader
from saerl.data.records import Record, instructed
from saerl.data.stage import load_split
from saerl.models.loading import load_model, load_tokenizer
from saerl.models.stage import model_name
from saerl.store import Artifact, BuildContext

LABELS_VERSION = "2"  # 2: keyed by the stage graph (batch size and grader in the key)
SIGNALS_VERSION = "4"  # 4: the difficulty proxy's strongest latents in metrics.json
LABEL_ROLES = {"labels_train": "train", "labels_ood": "ood", "labels_all": "all"}


def subset(records: list[Record], n: int | None, seed: int, salt: str) -> list[Record]:
    """A seeded random subset of ``n`` records (all of them when n is None or too large)."""
    if n is None or n >= len(records):
        return list(records)
    rng = random.Random(f"{salt}/{seed}")
    return [records[i] for i in sorted(rng.sample(range(len(records)), n))]


def build_labels(ctx: BuildContext, p: dict[str, Any], inputs: dict[str, Artifact], device: str) -> None:
    """Rollout labels (1 - pass rate over k samples) for ``p['n']`` seeded records of ``p['split']``."""
    from saerl.signals.rollouts import failure_rates, sample_hf, sample_vllm

    split, model = p["split"], inputs["model"]
    records = subset(load_split(inputs["data"], split), p["n"], p["seed"], f"labels/{split}")
    tok = load_tokenizer(model.path)
    prompts = [instructed(r.prompt, p.get("instruction", "")) for r in records]
    start = time.perf_counter()
    k, temp, max_new = p["samples"], p["temperature"], p["max_new_tokens"]
    if p["backend"] == "vllm":
        completions = sample_vllm(str(model.path), tok, prompts, k, temp, max_new, p["seed"])
    else:
        lm = load_model(model.path, device=device)
        completions = sample_hf(
            lm, tok, prompts, k, temp, max_new, p["batch_size"], p["seed"], progress=f"rollouts {split}"
        )
    seconds = time.perf_counter() - start
    difficulty = failure_rates(completions, [r.answer for r in records], get_grader(p["grader"]))
    with (ctx.path / "labels.jsonl").open("w") as fh:
        for rec, d in zip(records, difficulty, strict=True):
            fh.write(json.dumps({"id": rec.id, "difficulty": float(d)}) + "\n")
    examples = [
        {"id": r.id, "prompt": r.prompt, "answer": r.answer, "completions": c[:2]}
        for r, c in list(zip(records, completions, strict=True))[:20]
    ]
    (ctx.path / "examples.json").write_text(json.dumps(examples, indent=1))
    ctx.accelerator_seconds = seconds if device.startswith("cuda") else 0.0
    ctx.info.update(
        split=split,
        n=len(records),
        label_model=model_name(model),
        seconds=round(seconds, 2),
        prompts_per_s=round(len(records) / seconds, 2),
        mean_difficulty=float(difficulty.mean()),
        all_fail=float((difficulty == 1).mean()),
        all_pass=float((difficulty == 0).mean()),
    )


def read_labels(art: Artifact) -> dict[str, float]:
    rows = [json.loads(line) for line in (art.path / "labels.jsonl").read_text().splitlines()]
    return {r["id"]: r["difficulty"] for r in rows}


def build_signals(ctx: BuildContext, p: dict[str, Any], inputs: dict[str, Artifact], device: str) -> None:
    from saerl.sae.features import load_features
    from saerl.signals.compute import compute_signals

    data, feats_art = inputs["data"], inputs["features"]
    labels = {LABEL_ROLES[role]: read_labels(art) for role, art in inputs.items() if role in LABEL_ROLES}
    train = load_split(data, "train")
    ood = None
    if p["ood_split"]:
        ood = (load_split(data, p["ood_split"]), load_features(feats_art.path, p["ood_split"]))
    negatives = synth_negatives(p, inputs, train, device)
    result = compute_signals(
        p["signals"], train, load_features(feats_art.path, "train"), labels, ood, negatives
    )
    with (ctx.path / "signals.jsonl").open("w") as fh:
        for row in result.rows:
            fh.write(json.dumps(row) + "\n")
    (ctx.path / "metrics.json").write_text(json.dumps(result.metrics, indent=2))
    ctx.info.update(metrics=result.metrics)


def synth_negatives(
    p: dict[str, Any], inputs: dict[str, Artifact], train: list[Record], device: str
) -> tuple[Any, list[str]] | None:
    """Real data has no noise ground truth: corrupt a seeded share of clean prompts (the method's
    quality labels, section 4 of docs/method.md) and featurise them, as the quality probe's
    negatives. None for the miniature."""
    from saerl.data.noise import PROMPT_CORRUPTIONS, corrupt_prompt
    from saerl.sae.stage import Scorer

    if "noise" in train[0].meta:
        return None
    qcfg = p["signals"].quality
    rng = random.Random(f"quality-negatives/{qcfg.seed}")
    n = max(2, round(qcfg.synth_noise_rate * min(qcfg.n_labelled, len(train))))
    prompts = [corrupt_prompt(rng, rng.choice(PROMPT_CORRUPTIONS), r.prompt) for r in rng.sample(train, n)]
    scorer = Scorer.load(inputs["source"], inputs["sae"], p["activations"], p["pooling"], device)
    feats = scorer.features(prompts, [f"neg-{i}" for i in range(n)])
    return feats.z, prompts


def read_signals(art: Artifact) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (art.path / "signals.jsonl").read_text().splitlines()]


def as_array(rows: list[dict[str, Any]], key: str) -> np.ndarray:
    return np.array([np.nan if r[key] is None else r[key] for r in rows], dtype=float)
