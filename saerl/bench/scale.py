"""`make bench-scale`: the scoring path (features -> signals -> curriculum) at DeepMath-103K scale
on this machine, with wall time and peak memory per stage.

The pool: 103,000 prompts of the arithmetic generator (operands up to 5 digits so that many are
distinct; 15% noise with its ground truth). The source model is the miniature's (qwen2-xs shape,
random init; its tokenizer trained on a sample of the pool) and the SAE a sae-lens TopK SAE as wide
as a real one (16,384 latents, k = 64; random init: the bench measures cost, not meaning). Rollout
labels on the signals stage's default subset (600 prompts) are synthetic failure rates that follow
the generator's difficulty.

Stages, each timed in this process (peak RSS is the process's high-water mark after the stage):
- features: the real features path (`prompt_features`: the forward stopped at layer L, the TopK
  encode a chunk of tokens at a time, sparse pooling), streamed to disk in shards as it goes, then
  written and read back as the features stage stores it (npz);
- signals: k-means clusters, the ElasticNet difficulty proxy and its baselines, the quality probe,
  on the sparse matrix (never densified at this size);
- curriculum: quality filter, k-means of the kept prompts, easy-to-hard, batches of 128 for 500
  steps, mixing; then the interpretable summary; the stream's properties are checked.

Writes reports/bench_scale.json and reports/bench_scale.md.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from saerl.bench.writer import machine, write_bench

SHAPE = {"prompts": 103_000, "latents": 16_384, "k": 64}


def _peak_gb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)


def pool(n: int, seed: int = 0) -> list[Any]:
    """``n`` distinct arithmetic prompts with the generator's noise (train split)."""
    from saerl.data.arith import generate
    from saerl.data.config import ArithConfig

    cfg = ArithConfig(n_train=n, max_digits=5, seed=seed, n_sft=500, n_val=100, n_eval_id=100, n_eval_ood=100)
    return generate(cfg)["train"]


def synthetic_failure(records: list[Any], seed: int = 2) -> np.ndarray:
    """Failure rates in [0, 1] rising with the generator's difficulty score, plus noise."""
    rng = np.random.default_rng(seed)
    difficulty = np.array([float(r.meta.get("difficulty", 1.0)) for r in records])
    rate = 1 / (1 + np.exp(-(difficulty - np.median(difficulty))))
    return np.clip(rate + rng.normal(0, 0.1, len(records)), 0, 1)


def scorer(records: list[Any], latents: int, k: int) -> tuple[Any, Any, Any, int]:
    """(model, tokenizer, SAE, layer): the miniature's source shape, random init, a wide TopK SAE."""
    import torch
    from sae_lens import TopKTrainingSAE, TopKTrainingSAEConfig

    from saerl.models.config import ModelsConfig, TokenizerConfig
    from saerl.models.tiny import build_model
    from saerl.models.tokenizer import train_tokenizer
    from saerl.sae.activations import resolve_layer

    sample = records[:5000]
    tok = train_tokenizer(
        [r.prompt for r in sample] + [r.meta["solution"] for r in sample], TokenizerConfig()
    )
    spec = ModelsConfig().family[0]
    model = build_model(spec, tok, seed=0).eval()
    torch.manual_seed(0)
    sae = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=spec.hidden_size, d_sae=latents, k=k, device="cpu"))
    return model, tok, sae, resolve_layer(model, -1)


def check_stream(cur: Any, kept: int, steps: int, batch: int) -> dict[str, Any]:
    """The curriculum's contract on the result: `steps` full batches, each prompt once per pass,
    nothing dropped by the filter in the stream."""
    sizes = np.bincount(cur.batch)
    assert len(sizes) >= steps and (sizes[:steps] == batch).all(), "batches are not full"
    first = cur.order[cur.passes == 0]
    assert len(set(first.tolist())) == len(first), "a prompt repeats within a pass"
    assert not set(cur.dropped.tolist()) & set(cur.order.tolist()), "a dropped prompt is in the stream"
    return {"batches": int(cur.n_batches), "unique_prompts": len(set(cur.order.tolist())), "kept": kept}


def bench(shape: dict[str, int] = SHAPE, steps: int = 500, batch: int = 128) -> dict[str, Any]:
    from saerl.curriculum import interpret
    from saerl.curriculum.config import CurriculumConfig
    from saerl.curriculum.order import Signals, build_curriculum
    from saerl.sae.config import ActivationsConfig, FeaturesConfig
    from saerl.sae.features import load_features, prompt_features, save_features
    from saerl.signals.compute import compute_signals
    from saerl.signals.config import SignalsConfig
    from saerl.signals.diversity import cluster

    n = shape["prompts"]
    out: dict[str, Any] = {
        "machine": machine(numpy=np.__version__),
        "shape": shape,
        "stages": {},
    }
    start = time.perf_counter()
    records = pool(n)
    model, tok, sae, layer = scorer(records, shape["latents"], shape["k"])
    out["stages"]["pool + models"] = {
        "seconds": round(time.perf_counter() - start, 1),
        "peak_rss_gb": _peak_gb(),
    }

    fcfg = FeaturesConfig()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        feats = prompt_features(
            model,
            tok,
            sae,
            [r.prompt for r in records],
            [r.id for r in records],
            layer,
            ActivationsConfig(),
            fcfg.pooling,
            chunk_tokens=fcfg.chunk_tokens,
            shards=Path(tmp) / "shards",
            shard_prompts=fcfg.shard_prompts,
        )
        shards = len(list((Path(tmp) / "shards").glob("shard-*.npz")))
        compute_s = time.perf_counter() - start
        save_features(feats, Path(tmp), "train")
        size_mb = (Path(tmp) / "z_train.npz").stat().st_size / 2**20
        feats = load_features(Path(tmp), "train")
    tokens = sum(len(tok(r.prompt, add_special_tokens=False)["input_ids"]) for r in records[:2000])
    out["stages"]["features"] = {
        "seconds": round(time.perf_counter() - start, 1),
        "peak_rss_gb": _peak_gb(),
        "prompts_per_s": round(n / compute_s),
        "mean_prompt_tokens": round(tokens / min(n, 2000), 1),
        "nnz_per_prompt": round(feats.z.nnz / n, 1),
        "shards": shards,
        "npz_mb": round(size_mb, 1),
    }
    del model, sae

    scfg = SignalsConfig()
    failure = synthetic_failure(records)
    labelled = np.random.default_rng(2).choice(n, scfg.difficulty.n_labelled, replace=False)
    labels = {"train": {records[i].id: float(failure[i]) for i in labelled}}
    start = time.perf_counter()
    from dataclasses import replace

    scfg = replace(scfg, difficulty=replace(scfg.difficulty, ood_split=""))
    result = compute_signals(scfg, records, feats, labels)
    out["stages"]["signals"] = {"seconds": round(time.perf_counter() - start, 1), "peak_rss_gb": _peak_gb()}

    rows = result.rows
    sig = Signals(
        [r["id"] for r in rows],
        np.array([r["cluster"] for r in rows]),
        np.array([r["difficulty"] for r in rows]),
        np.array([r["quality"] for r in rows]),
    )
    ccfg = CurriculumConfig(batch_size=batch)
    z = feats.z
    start = time.perf_counter()
    cur = build_curriculum(sig, ccfg, lambda kept: cluster(z[kept], scfg.diversity), steps)
    explained = interpret.interpret(records, z, cur.clusters, sig.difficulty, cur.dropped, None)
    out["stages"]["curriculum"] = {
        "seconds": round(time.perf_counter() - start, 1),
        "peak_rss_gb": _peak_gb(),
        **check_stream(cur, n - len(cur.dropped), steps, batch),
        "clusters": len(explained["clusters"]),
    }
    out["total_seconds"] = round(sum(s["seconds"] for s in out["stages"].values()), 1)
    out["peak_rss_gb"] = _peak_gb()
    return out


def markdown(results: dict[str, Any]) -> str:
    m, s = results["machine"], results["shape"]
    f = results["stages"]["features"]
    lines = [
        "# Scoring at DeepMath-103K scale",
        "",
        f"Machine: {m['cpu_count']} CPU cores ({m['torch_threads']} torch threads), Python {m['python']}, "
        f"torch {m['torch']}, numpy {m['numpy']}. Pool: {s['prompts']:,} arithmetic prompts "
        f"({f['mean_prompt_tokens']} tokens on average); the miniature's source shape, a TopK SAE of "
        f"{s['latents']:,} latents (k = {s['k']}); random init (saerl/bench/scale.py).",
        "",
        "| stage | wall s | peak RSS GB (process, after the stage) |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {v['seconds']} | {v['peak_rss_gb']} |" for name, v in results["stages"].items()]
    cur = results["stages"]["curriculum"]
    lines += [
        "",
        f"Features: {f['prompts_per_s']} prompts/s, {f['nnz_per_prompt']} nonzero latents per prompt, "
        f"{f['shards']} shards streamed to disk, {f['npz_mb']} MB stored.",
        f"Total {results['total_seconds']} s; peak {results['peak_rss_gb']} GB. The curriculum: "
        f"{cur['batches']} batches, {cur['unique_prompts']:,} distinct prompts of {cur['kept']:,} kept; "
        "every batch full, each prompt once per pass, no dropped prompt in the stream.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("reports"))
    args = parser.parse_args()
    results = bench()
    write_bench(args.out, "bench_scale", results, markdown(results))


if __name__ == "__main__":
    main()
