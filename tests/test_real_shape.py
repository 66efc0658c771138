"""A model of real shape through every stage: nothing may assume the tiny models.

A random-init Qwen2 with Qwen2.5-0.5B's published config (hidden 896, 14 heads, 2 KV heads, MLP
4864, vocabulary 151,936, tied embeddings, rope theta 1e6; 2 of its 24 layers, for time) is saved
as an HF folder (safetensors) with the miniature's tokenizer, then serves as both the SAE source
and the RL target: activations, SAE, features, rollout labels, signals, curriculum and two local
GRPO steps with evaluation. The same path with a real model folder is in the README."""

import json

import pytest
from conftest import RL_OVERRIDES

from saerl.config import load_experiment
from saerl.launch.local import build, train_run

QWEN25_05B = {
    "hidden_size": 896,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "intermediate_size": 4864,
    "vocab_size": 151_936,
    "tie_word_embeddings": True,
    "rope_theta": 1_000_000.0,
    "max_position_embeddings": 32_768,
    "rms_norm_eps": 1e-6,
    "hidden_act": "silu",
}
LAYERS = 2


@pytest.fixture(scope="module")
def real_shape_model(tiny, tmp_path_factory):
    import torch
    from transformers import AutoTokenizer, GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    overrides, store = tiny
    tok_dir = build(load_experiment(overrides=overrides), store, "tokenizer").path
    tok = AutoTokenizer.from_pretrained(tok_dir)
    config = Qwen2Config(
        **QWEN25_05B,
        num_hidden_layers=LAYERS,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config)
    folder = tmp_path_factory.mktemp("models") / "qwen2.5-0.5b-shape"
    model.save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    GenerationConfig(eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id).save_pretrained(folder)
    return folder


@pytest.mark.slow
def test_a_real_shape_model_goes_through_every_stage(tiny, real_shape_model, tmp_path):
    overrides, store = tiny
    folder = str(real_shape_model)
    cfg = load_experiment(
        overrides=[
            *overrides,
            *RL_OVERRIDES,
            f"activations.source_model={folder}",
            f"rl.target_model={folder}",
            "sae.training_tokens=4096",
            "signals.difficulty.n_labelled=30",
            "signals.difficulty.n_ood_labelled=10",
            "rl.steps=2",
            "rl.eval_every=2",
            "rl.save_every=2",
            f"runs_dir={tmp_path / 'runs'}",
            "name=real-shape",
        ]
    )
    sae = build(cfg, store, "sae")
    sae_cfg = json.loads((sae.path / "sae" / "cfg.json").read_text())
    assert sae_cfg["d_in"] == 896 and sae_cfg["d_sae"] == 4 * 896
    activations = build(cfg, store, "activations")
    info = activations.manifest["info"]
    assert (info["d_model"], info["n_layers"], info["layer"]) == (896, LAYERS, round(0.55 * LAYERS))
    signals = build(cfg, store, "signals")
    metrics = json.loads((signals.path / "metrics.json").read_text())
    assert metrics["difficulty"]["n_labelled"] == 30
    cur = build(cfg, store, "curriculum")
    assert cur.manifest["info"]["rows"] == 2 * 8
    run = train_run(cfg, store)
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "done"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if "eval/average" in r]
    assert [r["step"] for r in evals] == [0, 2]
    condition = json.loads((run / "condition.json").read_text())
    assert condition["family"] == "qwen2" and condition["scale"] > 100_000_000
