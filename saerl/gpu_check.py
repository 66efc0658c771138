"""`make gpu-check`: the CUDA paths of saerl on any single CUDA machine, unattended, in minutes, with
a markdown summary (reports/gpu_check.md, .json).

Checks, each reported as passed, failed or skipped with the reason:
- device: torch's CUDA build, the GPU, bf16 support;
- bench-shapes: the real-shape benchmark (saerl.bench.shapes) on CUDA in bf16: the SAE route vs a
  full forward vs k = 16 decoding at Qwen2.5-0.5B/1.5B shapes, and the fraction of the GPU's peak;
- sae-training: sae-lens TopK training (saerl.sae.training, the SAE stage's own trainer) on CUDA
  at the miniature's width and at Qwen2.5-0.5B's, tokens/s, and its reconstruction improving;
- vllm: the vLLM labeller's tests (tests/test_vllm.py, with SAERL_REQUIRE_VLLM=1) where vLLM is
  installed (the cluster's OpenRLHF environment).

Without CUDA the CUDA checks skip, saying so, and the code paths they use run once on the CPU at toy
sizes ("cpu-smoke"), so a CPU box still proves the script itself works. The exit status is 1 when
any check failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TOY_SHAPE = {
    "toy": {
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "intermediate_size": 128,
        "vocab_size": 512,
        "tie_word_embeddings": True,
    }
}


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def check_device() -> dict[str, Any]:
    import torch

    facts: dict[str, Any] = {"torch": torch.__version__, "cuda_build": torch.version.cuda}
    if not torch.cuda.is_available():
        return {"status": "skipped", "why": f"no CUDA device (torch {torch.__version__})", **facts}
    props = torch.cuda.get_device_properties(0)
    facts |= {
        "gpu": props.name,
        "memory_gib": round(props.total_memory / 2**30, 1),
        "bf16": torch.cuda.is_bf16_supported(),
        "devices": torch.cuda.device_count(),
    }
    return {"status": "passed" if facts["bf16"] else "failed", **facts}


def check_bench_shapes() -> dict[str, Any]:
    from saerl.bench import shapes as bench_shapes

    if not _cuda():
        toy = bench_shapes.measure(TOY_SHAPE["toy"], 2, 16, repeats=1, decode_steps=2, samples=2)
        return {"status": "skipped", "why": "no CUDA device: the bf16 path did not run", "cpu_smoke": toy}
    results = bench_shapes.bench()
    return {"status": "passed", "markdown": bench_shapes.markdown(results, "###"), **results}


def check_sae_training() -> dict[str, Any]:
    import torch

    from saerl.bench.miniature import SAE_WIDTHS, bench_sae_training

    if not _cuda():
        toy = bench_sae_training("cpu", {"toy (32 -> 64, k=8)": (32, 64, 8, 4096)})
        toy["learning"] = _sae_learns("cpu")
        return {
            "status": "skipped",
            "why": "no CUDA device: SAE training ran on the CPU only",
            "cpu_smoke": toy,
        }
    figures = bench_sae_training("cuda", SAE_WIDTHS)
    learned = _sae_learns("cuda")
    torch.cuda.synchronize()
    return {"status": "passed" if learned["improved"] else "failed", "widths": figures, "learning": learned}


def _sae_learns(device: str) -> dict[str, Any]:
    """Reconstruction error of a TopK SAE before and after training on low-rank data (must fall)."""
    import torch

    from saerl.sae.config import SaeConfig
    from saerl.sae.training import train_sae

    gen = torch.Generator().manual_seed(0)
    data = (torch.randn(8192, 16, generator=gen) @ torch.randn(16, 128, generator=gen)).to(device)

    def stream() -> Any:
        while True:
            yield from data[torch.randperm(len(data), device=device)].split(1024)

    def error(sae: Any) -> float:
        with torch.no_grad():
            recon = sae.decode(sae.encode(data))
            return float(((recon - data) ** 2).mean() / (data**2).mean())

    cfg = SaeConfig(d_sae=512, k=16, training_tokens=8192, batch_size_tokens=1024)
    untrained = train_sae(
        SaeConfig(d_sae=512, k=16, training_tokens=1024, batch_size_tokens=1024),
        stream(),
        128,
        device,
        "c",
        "c",
    )
    trained = train_sae(cfg, stream(), 128, device, "c", "c")
    before, after = error(untrained), error(trained)
    return {
        "error_after_1_batch": round(before, 4),
        "error_after_8": round(after, 4),
        "improved": after < before,
    }


def check_vllm() -> dict[str, Any]:
    if importlib.util.find_spec("vllm") is None:
        return {
            "status": "skipped",
            "why": "vLLM is not installed here (the cluster's OpenRLHF environment has it)",
        }
    if not _cuda():
        return {"status": "skipped", "why": "vLLM is installed but there is no CUDA device"}
    env = {**os.environ, "SAERL_REQUIRE_VLLM": "1"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(ROOT / "tests/test_vllm.py")]
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=480, check=False)
    tail = "\n".join((out.stdout + out.stderr).strip().splitlines()[-5:])
    return {"status": "passed" if out.returncode == 0 else "failed", "pytest": tail}


CHECKS: dict[str, Callable[[], dict[str, Any]]] = {
    "device": check_device,
    "bench-shapes": check_bench_shapes,
    "sae-training": check_sae_training,
    "vllm": check_vllm,
}


def run_checks(names: list[str]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in names:
        start = time.perf_counter()
        try:
            result = CHECKS[name]()
        except Exception as exc:  # a failed check is reported, the others still run
            result = {
                "status": "failed",
                "error": f"{type(exc).__name__}: {exc}",
                "trace": traceback.format_exc(),
            }
        result["seconds"] = round(time.perf_counter() - start, 1)
        results[name] = result
        print(
            f"gpu-check {name}: {result['status']} ({result['seconds']} s) {result.get('why', '')}",
            flush=True,
        )
    return results


def markdown(results: dict[str, Any]) -> str:
    lines = ["# make gpu-check", "", "| check | status | seconds | note |", "|---|---|---|---|"]
    for name, r in results.items():
        note = r.get("why") or r.get("error") or ""
        if name == "device" and "gpu" in r:
            note = f"{r['gpu']}, {r['memory_gib']} GiB, bf16 {r['bf16']}, "
            note += f"torch {r['torch']} (CUDA {r['cuda_build']})"
        if name == "sae-training" and "widths" in r:
            note = "; ".join(f"{w}: {v['tokens_per_s']:,} tokens/s" for w, v in r["widths"].items())
            note += f"; error {r['learning']['error_after_1_batch']} -> {r['learning']['error_after_8']}"
        if "cpu_smoke" in r:
            note += " (its code path ran on the CPU at toy size)"
        lines.append(f"| {name} | {r['status']} | {r['seconds']} | {note} |")
    for name, r in results.items():
        if r.get("markdown"):
            lines += ["", r["markdown"]]
        if r.get("pytest"):
            lines += ["", f"{name}:", "```", r["pytest"], "```"]
    return "\n".join([*lines, ""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("reports"))
    parser.add_argument("--only", nargs="*", choices=sorted(CHECKS), help="run these checks only")
    args = parser.parse_args(argv)
    results = run_checks(args.only or list(CHECKS))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_check.json").write_text(json.dumps(results, indent=1, default=str))
    text = markdown(results)
    (args.out / "gpu_check.md").write_text(text)
    print(text)
    return 1 if any(r["status"] == "failed" for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
