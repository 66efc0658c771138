"""`make bench-shapes` (and the real-shape part of `make bench`): what scoring a prompt costs at real
model shapes, by the SAE route and by rollout labelling, measured side by side on one device.

Random-init Qwen2 models built from the published configs of Qwen2.5-0.5B and Qwen2.5-1.5B (all
layers; no download) score the same random-token prompts:
- the SAE route, as the features stage runs it: the forward stopped at layer L = half depth
  (`capture_layer`/`run_to_layer`), a TopK sae-lens SAE (16 x d_model latents, k = 64) encoding
  every token and pooled per prompt (`encode_pool`, the stage's own fast path);
- a full forward of the same model (every layer and the LM head's logits): the prefill of rollout
  labelling, and what scoring by the model itself costs at the least;
- decoding: k = 16 sampled continuations of one prompt at once, one token per step with the KV
  cache (the prompt's cache copied to the 16 rows), timed over `DECODE_STEPS` steps.

Labelling cost model (an extrapolation, stated as such): per prompt, rollout labelling costs the
prompt's prefill plus k x C decoded tokens at the measured batch-k decode rate, with C =
`COMPLETION_TOKENS` mean completion tokens; the SAE route costs the prompt's tokens at the route's
rate. Decoding is timed at a short context: at these widths the weights, not attention, dominate a
decode step until contexts of several thousand tokens, so the long-context rate is somewhat lower
and the ratio, if anything, understated. Multiplied out to a 103,000-prompt pool.

On CUDA (a lent GPU), the same code runs in bf16 with larger batches, and reports the fraction of
the GPU's peak dense bf16 throughput that the SAE route's forward and encode reach. On CPU: fp32.
Each figure is the median of 3 timed repeats after a warm-up.

Writes reports/bench_shapes.json and reports/bench_shapes.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

from saerl.bench.writer import machine, write_bench

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

SAMPLES = 16
"""k: rollouts per prompt of difficulty labelling (the paper's setting)."""
COMPLETION_TOKENS = 1024
"""C: the assumed mean completion length of a labelling rollout. The real profile caps responses at
3,072 tokens; reasoning traces on DeepMath-style problems often run past 1,000."""
POOL = 103_000
DECODE_STEPS = 16

PEAK_BF16_TFLOPS = {"H100 PCIe": 756.0, "H100": 989.4, "H200": 989.4, "A100": 312.0, "L40S": 362.1}
"""Dense bf16 peaks from the vendors' datasheets (no sparsity), matched against the device name in
this order; an unlisted GPU gets no fraction."""


def device_setup() -> dict[str, Any]:
    """Where the bench runs: CUDA in bf16 when present, else the CPU in fp32; sizes to match."""
    import torch

    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        peak = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
        return {
            "device": "cuda",
            "dtype": "bfloat16",
            "name": name,
            "peak_tflops": peak,
            "prompts": 64,
            "length": 512,
        }
    return {
        "device": "cpu",
        "dtype": "float32",
        "name": "cpu",
        "peak_tflops": None,
        "prompts": 8,
        "length": 64,
    }


def _timed(run: Any, sync: Any, repeats: int, prepare: Any = None) -> float:
    """Median wall seconds of ``run()`` over ``repeats`` after a warm-up; with ``prepare``,
    ``run(prepare())``, the set-up untimed."""
    times = []
    for i in range(repeats + 1):
        state = prepare() if prepare is not None else None
        sync()
        start = time.perf_counter()
        run(state) if prepare is not None else run()
        sync()
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(
    config: dict[str, Any],
    prompts: int,
    length: int,
    repeats: int = 3,
    device: str = "cpu",
    dtype: str = "float32",
    decode_steps: int = DECODE_STEPS,
    samples: int = SAMPLES,
) -> dict[str, Any]:
    import torch
    from sae_lens import TopKTrainingSAE, TopKTrainingSAEConfig
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from saerl.sae.activations import capture_layer, run_to_layer
    from saerl.sae.features import encode_pool

    torch.manual_seed(0)
    torch_dtype = getattr(torch, dtype)
    model = Qwen2ForCausalLM(Qwen2Config(**config)).to(torch_dtype).to(torch.device(device)).eval()
    d, layers = config["hidden_size"], config["num_hidden_layers"]
    sae = TopKTrainingSAE(TopKTrainingSAEConfig(k=64, d_in=d, d_sae=16 * d, device=device, dtype=dtype))
    ids = torch.randint(0, config["vocab_size"], (prompts, length), device=device)
    mask = torch.ones_like(ids)
    layer = layers // 2
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def route() -> None:
        with torch.inference_mode(), capture_layer(model, layer, stop=True) as box:
            acts = run_to_layer(model, box, ids, mask)
            encode_pool(sae, list(acts.to(sae.W_enc.dtype)), "mean", chunk_tokens=8192)

    def full() -> None:
        with torch.inference_mode():
            model(input_ids=ids, attention_mask=mask, use_cache=False)

    def prefill() -> tuple[Any, Any]:
        """One prompt's cache copied to k rows, and each row's first sampled token (untimed)."""
        with torch.inference_mode():
            out = model(input_ids=ids[:1], use_cache=True)
            cache = out.past_key_values
            cache.batch_repeat_interleave(samples)
            return cache, out.logits[:, -1:].argmax(-1).repeat(samples, 1)

    def decode(state: tuple[Any, Any]) -> None:
        cache, nxt = state
        with torch.inference_mode():
            for _ in range(decode_steps):
                logits = model(input_ids=nxt, past_key_values=cache, use_cache=True).logits[:, -1]
                nxt = torch.multinomial(torch.softmax(logits.float(), -1), 1)

    route_s, full_s = _timed(route, sync, repeats), _timed(full, sync, repeats)
    decode_s = _timed(decode, sync, repeats, prefill)
    tokens = prompts * length
    route_tps, full_tps = tokens / route_s, tokens / full_s
    decode_tps = samples * decode_steps / decode_s
    # Cost model, per prompt of `length` tokens (see the module docstring).
    sae_s = length / route_tps
    rollout_s = length / full_tps + samples * COMPLETION_TOKENS / decode_tps
    out = {
        "params_millions": round(sum(p.numel() for p in model.parameters()) / 1e6),
        "layer": layer,
        "n_layers": layers,
        "prompts": prompts,
        "tokens_per_prompt": length,
        "sae_route_s": round(route_s, 3),
        "full_forward_s": round(full_s, 3),
        "sae_route_tokens_per_s": round(route_tps),
        "full_forward_tokens_per_s": round(full_tps),
        "ratio": round(full_s / route_s, 2),
        "decode_batch": samples,
        "decode_tokens_per_s": round(decode_tps, 1),
        "labelling": {
            "samples": samples,
            "completion_tokens": COMPLETION_TOKENS,
            "sae_route_s_per_prompt": sae_s,
            "rollout_s_per_prompt": rollout_s,
            "ratio": round(rollout_s / sae_s),
            "pool": POOL,
            "sae_route_hours_for_pool": round(sae_s * POOL / 3600, 2),
            "rollout_hours_for_pool": round(rollout_s * POOL / 3600, 1),
        },
    }
    route_flops = _route_flops(model, layer, d, 16 * d) * tokens
    out["sae_route_tflops_per_s"] = round(route_flops / route_s / 1e12, 3)
    return out


def _route_flops(model: Any, layer: int, d: int, d_sae: int) -> float:
    """Multiply-adds x 2 per token of the SAE route: the decoder layers up to L (their weights), and
    the SAE encoder. Attention's context-dependent part is left out (small at these lengths)."""
    weights = sum(
        p.numel() for lay in model.model.layers[: layer + 1] for p in lay.parameters() if p.dim() == 2
    )
    return 2.0 * (weights + d * d_sae)


def bench(
    shapes: dict[str, dict[str, Any]] = SHAPES,
    prompts: int | None = None,
    length: int | None = None,
    decode_steps: int = DECODE_STEPS,
) -> dict[str, Any]:

    setup = device_setup()
    prompts, length = prompts or setup["prompts"], length or setup["length"]
    results: dict[str, Any] = {
        "machine": machine(
            device=f"{setup['name']} ({setup['dtype']})", peak_bf16_tflops=setup["peak_tflops"]
        ),
        "shapes": {
            name: measure(cfg, prompts, length, 3, setup["device"], setup["dtype"], decode_steps)
            for name, cfg in shapes.items()
        },
    }
    if setup["peak_tflops"]:
        for r in results["shapes"].values():
            r["sae_route_fraction_of_peak"] = round(r["sae_route_tflops_per_s"] / setup["peak_tflops"], 3)
    return results


def markdown(results: dict[str, Any], heading: str = "#") -> str:
    m = results["machine"]
    lines = [
        f"{heading} Scoring at real shapes: SAE route vs full forward vs rollout labelling",
        "",
        f"Device: {m['device']}; {m['cpu_count']} CPU cores ({m['torch_threads']} torch threads), "
        f"torch {m['torch']}. Random-init models with the published configs; medians of 3 repeats.",
        "",
        "| model | params (M) | stop at layer | SAE route tokens/s | full forward tokens/s | ratio "
        "| decode tokens/s (batch 16) | SAE route TFLOP/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results["shapes"].items():
        frac = (
            f" ({r['sae_route_fraction_of_peak']:.1%} of peak)" if "sae_route_fraction_of_peak" in r else ""
        )
        lines.append(
            f"| {name} | {r['params_millions']} | {r['layer']} of {r['n_layers']} | "
            f"{r['sae_route_tokens_per_s']} | {r['full_forward_tokens_per_s']} | {r['ratio']}x | "
            f"{r['decode_tokens_per_s']} | {r['sae_route_tflops_per_s']}{frac} |"
        )
    first = next(iter(results["shapes"].values()))["labelling"]
    lines += [
        "",
        f"Labelling cost per prompt ({first['samples']} rollouts of {first['completion_tokens']} tokens on "
        f"average, an assumption; prompts of {next(iter(results['shapes'].values()))['tokens_per_prompt']} "
        f"tokens), extrapolated to a {first['pool']:,}-prompt pool:",
        "",
        "| model | SAE route s/prompt | rollout labelling s/prompt | ratio | SAE route h (pool) "
        "| rollout labelling h (pool) |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results["shapes"].items():
        c = r["labelling"]
        lines.append(
            f"| {name} | {c['sae_route_s_per_prompt']:.4f} | {c['rollout_s_per_prompt']:.1f} | "
            f"{c['ratio']:,}x | {c['sae_route_hours_for_pool']} | {c['rollout_hours_for_pool']:,} |"
        )
    return "\n".join([*lines, ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("reports"))
    args = parser.parse_args()
    results = bench()
    write_bench(args.out, "bench_shapes", results, markdown(results))


if __name__ == "__main__":
    main()
