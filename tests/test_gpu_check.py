"""`make gpu-check` on a machine without CUDA: every CUDA check says plainly that it skipped and
why, the code paths behind them still run at toy size on the CPU, and the exit status is 0."""

from __future__ import annotations

import json

import pytest


def test_gpu_check_without_cuda_skips_each_cuda_check_saying_why_and_smokes_its_code(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this test checks the CPU behaviour; on a GPU `make gpu-check` is the check")
    from saerl.gpu_check import main

    assert main(["--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "gpu_check.json").read_text())
    assert {name: r["status"] for name, r in results.items()} == {
        "device": "skipped", "bench-shapes": "skipped", "sae-training": "skipped", "vllm": "skipped",
    }  # fmt: skip
    assert "no CUDA device" in results["device"]["why"] and "vLLM is not installed" in results["vllm"]["why"]
    assert results["bench-shapes"]["cpu_smoke"]["sae_route_tokens_per_s"] > 0
    assert results["sae-training"]["cpu_smoke"]["learning"]["improved"]
    text = (tmp_path / "gpu_check.md").read_text()
    assert "| bench-shapes | skipped |" in text and "no CUDA device: the bf16 path did not run" in text
