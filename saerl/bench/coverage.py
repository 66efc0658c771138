"""`make bench-coverage`: what coverage selection (curriculum.mode=coverage) costs at DeepMath-103K
scale, and what its per-cluster approximation gives up, on this machine.

The pool is synthetic, shaped like a wide SAE's pooled features: 103,000 prompts x 16,384 latents,
64 active latents per prompt (TopK), drawn mostly from the latents of the prompt's topic (64 topics)
with a heavy-tailed share from the whole dictionary, positive activations. Clusters are the topics
(the curriculum stage would take them from k-means). Learnability is uniform in [0, 1].

Figures (each measurement in a fresh process, so its peak memory is its own):
- the exact greedy over the whole pool and the per-cluster approximation, at a budget of 3,200
  prompts (100 steps of 32) and at 10% of the pool: wall seconds, peak RSS;
- the approximation against the exact greedy on a pool small enough for both: log det of each
  selection (the objective), their ratio as a gap per selected prompt, and the overlap.

Writes reports/bench_coverage.json and reports/bench_coverage.md.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np

from saerl.bench.writer import machine, write_bench

SCALE = {"prompts": 103_000, "latents": 16_384, "active": 64, "topics": 64}
SMALL = {"prompts": 6_000, "latents": 4_096, "active": 32, "topics": 16}
BETA, RIDGE = 4.0, 0.01  # the CurriculumConfig defaults


def synthetic_pool(
    prompts: int, latents: int, active: int, topics: int, seed: int = 0
) -> tuple[Any, Any, Any]:
    """(CSR features, learnability, topic of each prompt), deterministic in ``seed``."""
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    topic = rng.integers(0, topics, prompts)
    core = (
        rng.permutation(latents)[: topics * 256].reshape(topics, 256)
        if latents >= topics * 256
        else (rng.integers(0, latents, (topics, 256)))
    )
    own = int(active * 0.75)
    cols = np.empty((prompts, active), dtype=np.int64)
    cols[:, :own] = core[topic[:, None], rng.integers(0, 256, (prompts, own))]
    zipf = np.minimum(rng.zipf(1.3, (prompts, active - own)) - 1, latents - 1)
    cols[:, own:] = rng.permutation(latents)[zipf]
    vals = rng.exponential(1.0, (prompts, active))
    indptr = np.arange(0, prompts * active + 1, active)
    z = sp.csr_matrix((vals.ravel(), cols.ravel(), indptr), shape=(prompts, latents))
    z.sum_duplicates()
    return z, rng.random(prompts), topic


def _measure(job: dict[str, Any], out: Any) -> None:
    from saerl.curriculum import coverage

    z, u, topic = synthetic_pool(**job["pool"])
    start = time.perf_counter()
    if job["scope"] == "global":
        picked, _ = coverage.greedy_logdet(z, u, job["budget"], BETA, RIDGE)
    else:
        picked = coverage.greedy_logdet_per_cluster(z, u, topic, job["budget"], BETA, RIDGE)
    seconds = time.perf_counter() - start
    result: dict[str, Any] = {
        "seconds": round(seconds, 2),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "selected": len(picked),
    }
    if job.get("logdet"):
        result["logdet"] = coverage.logdet(z, u, picked, BETA, RIDGE)
        result["picked"] = sorted(int(i) for i in picked)
    out.put(result)


def measure(pool: dict[str, int], scope: str, budget: int, logdet: bool = False) -> dict[str, Any]:
    """One selection in a fresh process (spawned: its peak RSS is this selection's alone)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(
        target=_measure, args=({"pool": pool, "scope": scope, "budget": budget, "logdet": logdet}, queue)
    )
    proc.start()
    result = queue.get()
    proc.join()
    return {"pool": pool, "scope": scope, "budget": budget, **result}


def bench(
    scale: dict[str, int] = SCALE, small: dict[str, int] = SMALL, runs_budget: int = 3_200
) -> dict[str, Any]:
    """``runs_budget``: 100 steps x 32 prompts."""
    results: dict[str, Any] = {
        "machine": machine(torch=False, numpy=np.__version__),
        "objective": {"beta": BETA, "ridge": RIDGE},
    }
    tenth = scale["prompts"] // 10
    results["scale"] = [
        measure(scale, "global", runs_budget),
        measure(scale, "cluster", runs_budget),
        measure(scale, "global", tenth),
        measure(scale, "cluster", tenth),
    ]
    budget = small["prompts"] // 10
    exact = measure(small, "global", budget, logdet=True)
    approx = measure(small, "cluster", budget, logdet=True)
    overlap = len(set(exact.pop("picked")) & set(approx.pop("picked"))) / budget
    results["approximation"] = {
        "pool": small,
        "budget": budget,
        "exact": exact,
        "per_cluster": approx,
        "logdet_gap_per_prompt": round((exact["logdet"] - approx["logdet"]) / budget, 4),
        "overlap": round(overlap, 3),
    }
    return results


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        "# Coverage selection at scale",
        "",
        f"Machine: {m['cpu_count']} CPU cores, Python {m['python']}, numpy {m['numpy']}. "
        f"Objective: beta {results['objective']['beta']}, ridge {results['objective']['ridge']}.",
        "",
        "| pool (prompts x latents, active) | scope | budget | wall s | peak RSS GB |",
        "|---|---|---|---|---|",
    ]
    for r in results["scale"]:
        p = r["pool"]
        lines.append(
            f"| {p['prompts']:,} x {p['latents']:,}, {p['active']} | {r['scope']} | {r['budget']:,} | "
            f"{r['seconds']} | {r['peak_rss_gb']} |"
        )
    a = results["approximation"]
    p = a["pool"]
    lines += [
        "",
        f"Per-cluster approximation against the exact greedy ({p['prompts']:,} x {p['latents']:,} pool, "
        f"{p['topics']} clusters, budget {a['budget']}):",
        "",
        "| selection | log det | wall s |",
        "|---|---|---|",
        f"| exact greedy | {a['exact']['logdet']:.1f} | {a['exact']['seconds']} |",
        f"| per-cluster | {a['per_cluster']['logdet']:.1f} | {a['per_cluster']['seconds']} |",
        "",
        f"Gap {a['logdet_gap_per_prompt']} log-det units per selected prompt; "
        f"{a['overlap']:.0%} of the prompts are the same.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("reports"))
    parser.add_argument("--quick", action="store_true", help="a tenth of the pool (a smoke run)")
    args = parser.parse_args()
    results = bench(dict(SCALE, prompts=10_300), dict(SMALL, prompts=1_500)) if args.quick else bench()

    write_bench(args.out, "bench_coverage", results, markdown(results))


if __name__ == "__main__":
    main()
