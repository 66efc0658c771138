"""`make bench-shapes` on a small shape: every route runs through the features stage's own code
(capture_layer/run_to_layer, a sae-lens TopK SAE, encode_pool) and the cost model adds up; the
figures come from the bench only."""

import pytest

from saerl.bench import shapes as bench_shapes

SMALL = {
    "hidden_size": 64,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 128,
    "vocab_size": 512,
    "tie_word_embeddings": True,
}


def test_the_shape_bench_runs_every_route_on_a_small_model():
    results = bench_shapes.bench({"small": SMALL}, prompts=2, length=8, decode_steps=3)
    r = results["shapes"]["small"]
    assert r["layer"] == 2 and r["n_layers"] == 4 and r["decode_tokens_per_s"] > 0
    assert r["ratio"] >= 0 and r["sae_route_s"] > 0 and r["full_forward_s"] > 0
    c = r["labelling"]

    # The cost model as stated: prefill + k x C decoded tokens, against the route's tokens. The
    # stored rates are rounded (to 1 token/s, decode to 0.1), which bounds how closely they agree.
    def rel(rate, step=1.0):
        return 0.51 * step / rate + 1e-9

    full, decode = r["full_forward_tokens_per_s"], r["decode_tokens_per_s"]
    rollout = 8 / full + 16 * bench_shapes.COMPLETION_TOKENS / decode
    assert c["rollout_s_per_prompt"] == pytest.approx(rollout, rel=rel(full) + rel(decode, 0.1))
    route = r["sae_route_tokens_per_s"]
    assert c["sae_route_s_per_prompt"] == pytest.approx(8 / route, rel=rel(route))
    assert c["ratio"] == round(c["rollout_s_per_prompt"] / c["sae_route_s_per_prompt"])
    text = bench_shapes.markdown(results)
    assert "| small |" in text and "extrapolated to a 103,000-prompt pool" in text


def test_route_flops_count_the_layers_up_to_l_and_the_encoder():
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    model = Qwen2ForCausalLM(Qwen2Config(**SMALL))
    per_layer = sum(p.numel() for p in model.model.layers[0].parameters() if p.dim() == 2)
    assert bench_shapes._route_flops(model, 1, 64, 1024) == 2.0 * (2 * per_layer + 64 * 1024)
    assert isinstance(torch.get_num_threads(), int)


def test_the_peak_table_matches_device_names(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for name, peak in [("NVIDIA H100 80GB HBM3", 989.4), ("NVIDIA H100 PCIe", 756.0), ("Tesla T4", None)]:
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda i, name=name: name)
        setup = bench_shapes.device_setup()
        assert setup["peak_tflops"] == peak and setup["dtype"] == "bfloat16"
