"""`make bench-scale`: the scoring path after the SAE (features on disk -> signals -> curriculum) at
DeepMath-103K scale on this machine, with wall time and peak memory per stage.

The pool is synthetic: 103,000 records (prompt lengths 20-400 characters, 5 topics, 15% noise with
ground truth, as the miniature's pool) and pooled SAE features shaped like a wide TopK SAE's
(16,384 latents, 64 active per prompt, drawn from 64 latent topics; saerl.bench_coverage's
generator), plus dense pooled residual activations (896 wide, Qwen2.5-0.5B's d_model) for the raw
baseline. Rollout labels on the signals stage's default subset (600 prompts) are synthetic
failure rates. The SAE forward that makes the features is a GPU stage and is not in this bench.

Stages, each timed in this process (peak RSS is the process's high-water mark after the stage):
- features: the CSR matrix written and read back as the features stage stores it (npz);
- signals: k-means clusters, the ElasticNet difficulty proxy and its baselines, the quality probe,
  on the sparse matrix (never densified at this size);
- curriculum: quality filter, k-means of the kept prompts, easy-to-hard, batches of 128 for 500
  steps, mixing; then the interpretable summary; the stream's properties are checked.

Writes reports/bench_scale.json and reports/bench_scale.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from saerl.bench_coverage import synthetic_pool, write_bench

SHAPE = {"prompts": 103_000, "latents": 16_384, "active": 64, "topics": 64, "d_model": 896}


def _peak_gb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)


def synthetic_records(n: int, seed: int = 0) -> list[Any]:
    from saerl.data.records import Record

    rng = np.random.default_rng(seed)
    kinds = np.array(["garbled", "off_topic", "truncated", "wrong_answer"])
    noise = np.where(rng.random(n) < 0.15, kinds[rng.integers(0, 4, n)], "none")
    topics = ["addition", "subtraction", "multiplication", "expression", "word_problem"]
    return [
        Record(
            f"p{i}",
            f"Problem {i}: " + "compute " * int(rng.integers(2, 50)),
            str(i),
            topic=topics[i % 5],
            meta={"noise": str(noise[i])},
        )
        for i in range(n)
    ]


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
    import scipy.sparse as sp

    from saerl.curriculum import interpret
    from saerl.curriculum.config import CurriculumConfig
    from saerl.curriculum.order import Signals, build_curriculum
    from saerl.sae.features import PromptFeatures
    from saerl.signals.compute import compute_signals
    from saerl.signals.config import SignalsConfig
    from saerl.signals.diversity import cluster

    n = shape["prompts"]
    out: dict[str, Any] = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
        },
        "shape": shape,
        "stages": {},
    }
    start = time.perf_counter()
    z, failure, _ = synthetic_pool(n, shape["latents"], shape["active"], shape["topics"])
    records = synthetic_records(n)
    raw = np.random.default_rng(1).standard_normal((n, shape["d_model"]), dtype=np.float32)
    out["stages"]["synthesis"] = {"seconds": round(time.perf_counter() - start, 1), "peak_rss_gb": _peak_gb()}

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        sp.save_npz(Path(tmp) / "z_train.npz", z)
        size_mb = (Path(tmp) / "z_train.npz").stat().st_size / 2**20
        z = sp.load_npz(Path(tmp) / "z_train.npz").tocsr()
    out["stages"]["features (write + read)"] = {
        "seconds": round(time.perf_counter() - start, 1),
        "peak_rss_gb": _peak_gb(),
        "npz_mb": round(size_mb, 1),
    }

    scfg = SignalsConfig()
    labelled = np.random.default_rng(2).choice(n, scfg.difficulty.n_labelled, replace=False)
    labels = {"train": {f"p{i}": float(failure[i]) for i in labelled}}
    feats = PromptFeatures([r.id for r in records], z, raw, 0.0)
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
    lines = [
        "# Scoring at DeepMath-103K scale",
        "",
        f"Machine: {m['cpu_count']} CPU cores, Python {m['python']}, numpy {m['numpy']}. Pool: "
        f"{s['prompts']:,} prompts x {s['latents']:,} latents ({s['active']} active), raw activations "
        f"{s['d_model']} wide; synthetic (saerl/bench_scale.py).",
        "",
        "| stage | wall s | peak RSS GB (process, after the stage) |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {v['seconds']} | {v['peak_rss_gb']} |" for name, v in results["stages"].items()]
    cur = results["stages"]["curriculum"]
    lines += [
        "",
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
