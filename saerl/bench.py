"""`make bench`: throughput of the miniature's stages on this machine, written to reports/bench.json.

Benchmarks measure speed; tests never do. Each figure is the median of a few repeats after a warm-up.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def bench() -> dict[str, Any]:
    import torch

    from saerl.models.generation import generate_greedy
    from saerl.models.sft import run_sft
    from saerl.models.tiny import build_model, n_params
    from saerl.models.tokenizer import train_tokenizer

    os.environ.setdefault("TQDM_DISABLE", "1")
    cfg = ArithConfig()
    results: dict[str, Any] = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
    }
    gen_s = median_seconds(lambda: generate(cfg))
    n_items = cfg.n_train + cfg.n_sft + cfg.n_eval_id + cfg.n_eval_ood
    results["data_items_per_s"] = round(n_items / gen_s)

    splits = generate(cfg)
    records = splits["sft"] + splits["train"]
    corpus = [r.prompt for r in records] + [r.meta["solution"] for r in records]
    results["tokenizer_train_s"] = round(
        median_seconds(lambda: train_tokenizer(corpus, TokenizerConfig())), 3
    )
    tok = train_tokenizer(corpus, TokenizerConfig())

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


def main() -> None:
    results = bench()
    out = Path("reports/bench.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
