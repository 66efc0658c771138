"""`make bench-shapes`: the SAE scoring route against a full forward at real model shapes, on this
machine's CPU (a piece of the performance issue; GPU figures need a lent GPU).

Random-init Qwen2 models built from the published configs of Qwen2.5-0.5B and Qwen2.5-1.5B (all
layers, fp32; no download) score the same random-token prompts two ways:
- the SAE route, as the features stage runs it: the forward stopped at layer L = half depth
  (`capture_layer`/`run_to_layer`), a TopK sae-lens SAE (16 x d_model latents, k = 64) encoding every
  token, mean-pooled per prompt;
- a full forward of the same model (every layer and the LM head's logits), what scoring by the
  model itself costs at the least (rollout labelling costs k samples x the completion length more).
Each figure is the median of 3 timed repeats after a warm-up.

Writes reports/bench_shapes.json and reports/bench_shapes.md.
"""

from __future__ import annotations

import argparse
import os
import platform
from typing import Any

from saerl.bench import median_seconds
from saerl.bench_coverage import write_bench

SHAPES: dict[str, dict[str, Any]] = {
    "Qwen2.5-0.5B": {
        "hidden_size": 896,
        "num_hidden_layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
        "intermediate_size": 4864,
        "vocab_size": 151_936,
        "tie_word_embeddings": True,
    },
    "Qwen2.5-1.5B": {
        "hidden_size": 1536,
        "num_hidden_layers": 28,
        "num_attention_heads": 12,
        "num_key_value_heads": 2,
        "intermediate_size": 8960,
        "vocab_size": 151_936,
        "tie_word_embeddings": True,
    },
}


def measure(config: dict[str, Any], prompts: int, length: int, repeats: int = 3) -> dict[str, Any]:
    import torch
    from sae_lens import TopKTrainingSAE, TopKTrainingSAEConfig
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from saerl.sae.activations import capture_layer, run_to_layer
    from saerl.sae.features import pool

    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(**config)).eval()  # rope and norm settings do not change the cost
    d, layers = config["hidden_size"], config["num_hidden_layers"]
    sae = TopKTrainingSAE(TopKTrainingSAEConfig(k=64, d_in=d, d_sae=16 * d, device="cpu", dtype="float32"))
    ids = torch.randint(0, config["vocab_size"], (prompts, length))
    mask = torch.ones_like(ids)
    layer = layers // 2

    def route() -> None:
        with torch.inference_mode(), capture_layer(model, layer, stop=True) as box:
            acts = run_to_layer(model, box, ids, mask)
            z = sae.encode(acts.reshape(-1, d)).reshape(prompts, length, -1)
            [pool(z[i], "mean") for i in range(prompts)]

    def full() -> None:
        with torch.inference_mode():
            model(input_ids=ids, attention_mask=mask, use_cache=False)

    route_s, full_s = median_seconds(route, repeats), median_seconds(full, repeats)
    tokens = prompts * length
    return {
        "params_millions": round(sum(p.numel() for p in model.parameters()) / 1e6),
        "layer": layer,
        "n_layers": layers,
        "prompts": prompts,
        "tokens_per_prompt": length,
        "sae_route_s": round(route_s, 3),
        "full_forward_s": round(full_s, 3),
        "sae_route_tokens_per_s": round(tokens / route_s),
        "full_forward_tokens_per_s": round(tokens / full_s),
        "ratio": round(full_s / route_s, 2),
    }


def bench(shapes: dict[str, dict[str, Any]] = SHAPES, prompts: int = 8, length: int = 64) -> dict[str, Any]:
    import torch

    return {
        "machine": {
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "device": "cpu (fp32)",
        },
        "shapes": {name: measure(cfg, prompts, length) for name, cfg in shapes.items()},
    }


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        "# SAE scoring route vs full forward at real shapes",
        "",
        f"Machine: {m['cpu_count']} CPU cores ({m['torch_threads']} torch threads), torch {m['torch']}, "
        f"{m['device']}. Random-init models with the published configs; medians of 3 repeats.",
        "",
        "| model | params (M) | stop at layer | SAE route tokens/s | full forward tokens/s | ratio |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results["shapes"].items():
        lines.append(
            f"| {name} | {r['params_millions']} | {r['layer']} of {r['n_layers']} | "
            f"{r['sae_route_tokens_per_s']} | {r['full_forward_tokens_per_s']} | {r['ratio']}x |"
        )
    return "\n".join([*lines, ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="reports")
    args = parser.parse_args()
    from pathlib import Path

    results = bench()
    write_bench(Path(args.out), "bench_shapes", results, markdown(results))


if __name__ == "__main__":
    main()
