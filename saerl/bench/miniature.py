"""`make bench`: every speed figure of the project in one run, written to reports/bench.json and
reports/bench.md.

- the miniature's stages: data, tokenizer, SFT and greedy decoding per model, the features pass with
  and without stopping at layer L;
- the features path at a real SAE width (16,384 latents, k = 64) on the miniature's source: the
  stage's fast path (`encode_pool`) against the straightforward one (a whole batch encoded dense,
  each prompt pooled from its dense rows);
- SAE training tokens/s with sae-lens at the miniature's width and at a real one;
- real shapes (saerl.bench.shapes): the SAE route vs a full forward vs rollout labelling at the
  Qwen2.5-0.5B/1.5B shapes, with the labelling cost model and its extrapolation to 103k prompts; on
  a CUDA device, in bf16 with the fraction of the GPU's peak;
- `make demo` run from scratch in a copy of the tree: its wall time, the median GRPO step of the
  local (TRL) backend, and the miniature's own labelling-vs-SAE ratio from its stage manifests
  (`--skip-demo` leaves this part out).

Benchmarks measure speed; tests never do. Each figure is the median of a few repeats after a warm-up.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from saerl.bench.writer import machine, write_bench
from saerl.data.arith import generate
from saerl.data.config import ArithConfig
from saerl.models.config import ModelsConfig, SftConfig, TokenizerConfig


def median_seconds(fn: Callable[[], Any], repeats: int = 3) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _tokenizer(splits: dict[str, Any]) -> Any:
    from saerl.models.tokenizer import train_tokenizer

    records = splits["sft"] + splits["train"]
    corpus = [r.prompt for r in records] + [r.meta["solution"] for r in records]
    return train_tokenizer(corpus, TokenizerConfig())


def bench() -> dict[str, Any]:
    from saerl.models.generation import generate_greedy
    from saerl.models.sft import run_sft
    from saerl.models.tiny import build_model, n_params

    os.environ.setdefault("TQDM_DISABLE", "1")
    cfg = ArithConfig()
    results: dict[str, Any] = {
        "machine": machine(),
    }
    gen_s = median_seconds(lambda: generate(cfg))
    n_items = cfg.n_train + cfg.n_sft + cfg.n_eval_id + cfg.n_eval_ood
    results["data_items_per_s"] = round(n_items / gen_s)

    splits = generate(cfg)
    results["tokenizer_train_s"] = round(median_seconds(lambda: _tokenizer(splits)), 3)
    tok = _tokenizer(splits)

    results["models"] = [spec.name for spec in ModelsConfig().family]
    sft = SftConfig(steps=20, batch_size=64, warmup_steps=2)
    prompts = [r.prompt for r in splits["eval_id"][:64]]
    for spec in ModelsConfig().family:
        model = build_model(spec, tok, seed=0)
        run_sft(model, tok, splits["sft"], SftConfig(steps=2, batch_size=8, warmup_steps=1))  # warm-up
        res = run_sft(model, tok, splits["sft"], sft)
        start = time.perf_counter()
        outs = generate_greedy(model, tok, prompts, max_new_tokens=64)
        gen_s = time.perf_counter() - start
        new_tokens = sum(len(tok(o, add_special_tokens=False)["input_ids"]) for o in outs)
        results[spec.name] = {
            "params": n_params(model),
            "sft_tokens_per_s": round(res.tokens / res.seconds),
            "sft_steps_per_s": round(res.steps / res.seconds, 2),
            "greedy_prompts_per_s": round(len(prompts) / gen_s, 1),
            "greedy_new_tokens_per_s": round(new_tokens / gen_s),
        }
    results["activations"] = bench_activations(tok, [r.prompt for r in splits["train"]])
    return results


def bench_activations(tok: Any, prompts: list[str]) -> dict[str, Any]:
    """Prompts/s of the features pass on the SAE source size, with and without stopping at layer L."""
    from saerl.models.tiny import build_model
    from saerl.sae.activations import iter_activations, resolve_layer
    from saerl.sae.config import ActivationsConfig

    spec = ModelsConfig().family[0]
    model = build_model(spec, tok, seed=0).eval()
    layer = resolve_layer(model, -1)
    cfg = ActivationsConfig()
    out: dict[str, Any] = {
        "model": spec.name,
        "layer": layer,
        "n_layers": spec.num_layers,
        "prompts": len(prompts),
    }
    for stop in (True, False):

        def run(stop: bool = stop) -> None:
            list(iter_activations(model, tok, prompts, layer, cfg, stop_early=stop))

        seconds = median_seconds(run)
        out["prompts_per_s_" + ("early_stop" if stop else "full_forward")] = round(len(prompts) / seconds)
    return out


def dense_features(model: Any, tok: Any, sae: Any, prompts: list[str], layer: int, cfg: Any) -> Any:
    """The straightforward features path the fast one replaced: every batch's tokens encoded into
    one dense [tokens x d_sae] matrix, each prompt pooled from its dense rows into a CSR row."""
    import numpy as np
    import scipy.sparse as sp
    import torch

    from saerl.sae.activations import iter_activations
    from saerl.sae.features import pool

    rows: list[Any] = [None] * len(prompts)
    for batch in iter_activations(model, tok, prompts, layer, cfg):
        with torch.inference_mode():
            feats = sae.encode(torch.cat(batch.acts)).float()
        for i, f in zip(batch.idx, feats.split([len(a) for a in batch.acts]), strict=True):
            rows[i] = sp.csr_matrix(pool(f, "mean").numpy()[None, :])
    return sp.vstack(rows, format="csr").astype(np.float32)


def bench_features_path(tok: Any, prompts: list[str], d_sae: int = 16_384, k: int = 64) -> dict[str, Any]:
    """Prompts/s of the features path at a real SAE width, fast vs straightforward, same inputs."""
    import numpy as np
    import torch
    from sae_lens import TopKTrainingSAE, TopKTrainingSAEConfig

    from saerl.models.tiny import build_model
    from saerl.sae.activations import encode_prompts, resolve_layer
    from saerl.sae.config import ActivationsConfig, FeaturesConfig
    from saerl.sae.features import prompt_features

    spec = ModelsConfig().family[0]
    model = build_model(spec, tok, seed=0).eval()
    layer = resolve_layer(model, -1)
    torch.manual_seed(0)
    sae = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=spec.hidden_size, d_sae=d_sae, k=k, device="cpu"))
    cfg, fcfg = ActivationsConfig(), FeaturesConfig()
    ids = [f"p{i}" for i in range(len(prompts))]
    fast = prompt_features(model, tok, sae, prompts, ids, layer, cfg, "mean", chunk_tokens=fcfg.chunk_tokens)
    slow = dense_features(model, tok, sae, prompts, layer, cfg)
    gap = float(abs(fast.z - slow).max())
    fast_s = median_seconds(
        lambda: prompt_features(
            model, tok, sae, prompts, ids, layer, cfg, "mean", chunk_tokens=fcfg.chunk_tokens
        )
    )
    slow_s = median_seconds(lambda: dense_features(model, tok, sae, prompts, layer, cfg))
    lengths = sorted(len(e.input_ids) for e in encode_prompts(tok, prompts, cfg))
    biggest_batch = max(sum(lengths[i : i + cfg.batch_size]) for i in range(0, len(lengths), cfg.batch_size))
    return {
        "model": spec.name,
        "d_sae": d_sae,
        "k": k,
        "prompts": len(prompts),
        "fast_prompts_per_s": round(len(prompts) / fast_s),
        "straightforward_prompts_per_s": round(len(prompts) / slow_s),
        "ratio": round(slow_s / fast_s, 2),
        "max_abs_difference": gap,
        "dense_block_mb_fast": round(min(fcfg.chunk_tokens, biggest_batch) * d_sae * 4 / 2**20, 1),
        "dense_block_mb_straightforward": round(biggest_batch * d_sae * 4 / 2**20, 1),
        "nnz_per_prompt": round(fast.z.nnz / len(prompts), 1),
        "equal": bool(np.isclose(gap, 0, atol=1e-4)),
    }


SAE_WIDTHS = {
    "miniature (128 -> 256, k=32)": (128, 256, 32, 262_144),
    "Qwen2.5-0.5B width (896 -> 16,384, k=64)": (896, 16_384, 64, 16_384),
}
"""name: (d_in, d_sae, k, training tokens)."""


def bench_sae_training(
    device: str = "cpu", widths: dict[str, tuple[int, int, int, int]] = SAE_WIDTHS
) -> dict[str, Any]:
    """Tokens/s of sae-lens training (our `train_sae`, batches of 1,024 tokens) on random activations."""
    import torch

    from saerl.sae.config import SaeConfig
    from saerl.sae.training import train_sae

    out: dict[str, Any] = {}
    for name, (d_in, d_sae, k, tokens) in widths.items():
        cfg = SaeConfig(d_sae=d_sae, k=k, training_tokens=tokens, batch_size_tokens=1024)
        data = torch.randn(8 * 1024, d_in, generator=torch.Generator().manual_seed(0)).to(device)

        def stream(data: Any = data) -> Any:
            while True:
                yield from data[torch.randperm(len(data))].split(1024)

        start = time.perf_counter()
        sae = train_sae(cfg, stream(), d_in, device, "bench", "bench")
        seconds = time.perf_counter() - start
        out[name] = {
            "tokens": tokens,
            "seconds": round(seconds, 1),
            "tokens_per_s": round(tokens / seconds),
            "d_sae": int(sae.cfg.d_sae),
        }
    return out


def tracked_copy(repo: Path, dest: Path) -> None:
    """The repository's tracked files (as they are on disk) under ``dest``: a fresh tree, no outputs."""
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.split("\0")
    for rel in filter(None, files):
        src = repo / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def bench_demo(repo: Path, log_path: Path) -> dict[str, Any]:
    """`make demo` from scratch in a copy of the tree (this virtualenv, nothing else reused)."""
    venv = Path(sys.prefix)
    with tempfile.TemporaryDirectory(prefix="saerl-demo-") as tmp:
        work = Path(tmp)
        tracked_copy(repo, work)
        cmd = ["make", "-C", str(work), "demo", f"VENV={venv}", "-o", f"{venv}/.installed"]
        start = time.perf_counter()
        with log_path.open("w") as log:
            subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT)
        wall = time.perf_counter() - start
        steps = [
            json.loads(line)["train/step_time"]
            for f in work.glob("runs/demo/*/metrics.jsonl")
            for line in f.read_text().splitlines()
            if "train/step_time" in line
        ]
        out: dict[str, Any] = {
            "wall_s": round(wall, 1),
            "log": str(log_path),
            "grpo_steps_timed": len(steps),
            "grpo_step_s_median": round(statistics.median(steps), 2) if steps else None,
        }
        out["labelling"] = miniature_labelling(work / "artifacts")
    return out


def miniature_labelling(store: Path) -> dict[str, Any]:
    """The miniature's rollout labels vs SAE route, from the stages' own manifests: per prompt (the
    labels stage's train split vs the features stage's train split), and for the whole route (the
    activations + SAE + features stages against labelling every prompt of the pool)."""

    def manifests(stage: str) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in sorted(store.glob(f"{stage}/*/manifest.json"))]

    labels = [m for m in manifests("labels") if m["info"].get("split") == "train"]
    features = manifests("features")
    if not labels or not features:
        return {}
    lab, feat = labels[0], features[0]
    label_s = lab["info"]["seconds"] / lab["info"]["n"]
    train = feat["info"]["splits"]["train"]
    feature_s = 1 / train["prompts_per_s"]
    route_s = sum(m[0]["wall_seconds"] for m in (manifests("activations"), manifests("sae")) if m)
    route_s += feat["wall_seconds"]
    return {
        "label_model": lab["info"]["label_model"],
        "labels_s_per_prompt": round(label_s, 4),
        "features_s_per_prompt": round(feature_s, 5),
        "per_prompt_ratio": round(label_s / feature_s, 1),
        "pool": train["rows"],
        "whole_route_s": round(route_s, 1),
        "labelling_pool_s": round(label_s * train["rows"], 1),
        "whole_route_ratio": round(label_s * train["rows"] / route_s, 2),
    }


def markdown(r: dict[str, Any]) -> str:
    from saerl.bench import shapes as bench_shapes

    m = r["machine"]
    lines = [
        "# saerl benchmarks (`make bench`)",
        "",
        f"Machine: {m['cpu_count']} CPU cores ({m['torch_threads']} torch threads), Python {m['python']}, "
        f"torch {m['torch']}. Medians of 3 repeats after a warm-up unless said.",
        "",
        "## The miniature's stages",
        "",
        f"Data: {r['data_items_per_s']:,} items/s; tokenizer training {r['tokenizer_train_s']} s.",
        "",
        "| model | params | SFT tokens/s | greedy prompts/s | greedy new tokens/s |",
        "|---|---|---|---|---|",
    ]
    for name in r["models"]:
        v = r[name]
        lines.append(
            f"| {name} | {v['params']:,} | {v['sft_tokens_per_s']:,} | {v['greedy_prompts_per_s']} | "
            f"{v['greedy_new_tokens_per_s']:,} |"
        )
    a = r["activations"]
    lines += [
        "",
        f"Features pass on {a['model']} ({a['prompts']} prompts): {a['prompts_per_s_early_stop']} prompts/s "
        f"stopping at layer {a['layer']} of {a['n_layers']}, {a['prompts_per_s_full_forward']} with the "
        "full forward.",
    ]
    f = r.get("features_path")
    if f:
        lines += [
            "",
            f"## The features path at {f['d_sae']:,} latents (k = {f['k']}), {f['model']}, "
            f"{f['prompts']:,} prompts",
            "",
            "| path | prompts/s | largest dense [tokens x d_sae] block (MB) |",
            "|---|---|---|",
            "| straightforward (dense batch encode, per-prompt pooling) | "
            f"{f['straightforward_prompts_per_s']} | {f['dense_block_mb_straightforward']} |",
            f"| fast (`encode_pool`: chunks, sparse TopK, segment pooling) | {f['fast_prompts_per_s']} | "
            f"{f['dense_block_mb_fast']} |",
            "",
            f"Ratio {f['ratio']}x; largest difference between the two {f['max_abs_difference']:.1e}; "
            f"{f['nnz_per_prompt']} nonzero latents per prompt.",
        ]
    t = r.get("sae_training")
    if t:
        lines += [
            "",
            "## SAE training (sae-lens, random activations)",
            "",
            "| width | tokens | s | tokens/s |",
        ]
        lines += ["|---|---|---|---|"]
        lines += [f"| {k} | {v['tokens']:,} | {v['seconds']} | {v['tokens_per_s']:,} |" for k, v in t.items()]
    if r.get("real_shapes"):
        lines += ["", bench_shapes.markdown(r["real_shapes"], heading="##")]
    d = r.get("demo")
    if d:
        lines += [
            "## `make demo` from scratch",
            "",
            f"Wall time {d['wall_s'] / 60:.1f} min; median GRPO step of the local TRL backend "
            f"{d['grpo_step_s_median']} s ({d['grpo_steps_timed']} steps timed).",
        ]
        lab = d.get("labelling")
        if lab:
            lines += [
                "",
                f"The miniature's own labelling cost (label model {lab['label_model']}): rollout labels "
                f"{lab['labels_s_per_prompt']} s/prompt vs SAE features "
                f"{lab['features_s_per_prompt']} s/prompt "
                f"= {lab['per_prompt_ratio']}x per prompt; the whole SAE route (activations, SAE training, "
                f"features: {lab['whole_route_s']} s) vs labelling all {lab['pool']:,} pool prompts "
                f"({lab['labelling_pool_s']} s) = {lab['whole_route_ratio']}x.",
            ]
    return "\n".join([*lines, ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("reports"))
    parser.add_argument("--skip-demo", action="store_true", help="leave out the from-scratch `make demo`")
    parser.add_argument("--skip-shapes", action="store_true", help="leave out the real-shape models")
    args = parser.parse_args()
    from saerl.bench import shapes as bench_shapes

    results = bench()
    splits = generate(ArithConfig())
    tok = _tokenizer(splits)
    results["features_path"] = bench_features_path(tok, [r.prompt for r in splits["train"][:2000]])
    results["sae_training"] = bench_sae_training(bench_shapes.device_setup()["device"])
    if not args.skip_shapes:
        results["real_shapes"] = bench_shapes.bench()
    if not args.skip_demo:
        args.out.mkdir(parents=True, exist_ok=True)
        results["demo"] = bench_demo(Path.cwd(), args.out / "bench_demo.log")
    write_bench(args.out, "bench", results, markdown(results))


if __name__ == "__main__":
    main()
