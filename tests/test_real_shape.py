"""The real-model path on real shapes: nothing may assume the tiny models or the miniature's data.

A random-init Qwen2 with Qwen2.5-0.5B's published config (hidden 896, 14 heads, 2 KV heads, MLP
4864, vocabulary 151,936, tied embeddings, rope theta 1e6; 2 of its 24 layers, for time) is saved
as an HF folder (safetensors) with the miniature's tokenizer, then serves as both the SAE source
and the RL target on a generated file in DeepMath-103K's columns, with configs/real.yaml as the
base: data, activations, SAE, features, rollout labels, signals, curriculum and two local GRPO
steps evaluated on the six benchmarks. The same path with a real model folder is in the README."""

import json
from pathlib import Path

import pytest

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
ROOT = Path(__file__).parent.parent


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


def deepmath_file(path, n=240):
    """A generated file in DeepMath-103K's published columns."""
    rows = [
        {
            "question": f"Compute {a} + {b} * {a % 7}. Give the final number.",
            "final_answer": str(a + b * (a % 7)),
            "difficulty": float(1 + (a * b) % 9),
            "topic": ["Mathematics -> Algebra", "Mathematics -> Number Theory"][a % 2],
            "r1_solution_1": "...",
            "r1_solution_2": "...",
            "r1_solution_3": "...",
        }
        for a, b in ((i // 16 + 3, i % 16 + 2) for i in range(n))
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


CPU_SIZES = (  # the real profile's sizes are a GPU's; these keep every stage to seconds on CPU
    "sae.training_tokens=4096",
    "sae.expansion=4",
    "sae.k=8",
    "sae.batch_size_tokens=256",
    "activations.shuffle_buffer_tokens=1024",
    "activations.eval_tokens=1024",
    "signals.diversity.n_clusters=3",
    "signals.difficulty.n_labelled=30",
    "signals.difficulty.samples=2",
    "signals.difficulty.max_new_tokens=8",
    "signals.quality.n_labelled=120",
    "curriculum.batch_size=8",
    "rl.num_generations=2",
    "rl.max_completion_length=8",
    "rl.eval_items=4",
    "rl.eval_max_new_tokens=8",
    "rl.steps=2",
    "rl.eval_every=2",
    "rl.save_every=2",
)


@pytest.mark.slow
def test_a_deepmath_file_and_a_real_shape_model_go_through_every_stage(tiny, real_shape_model, tmp_path):
    """configs/real.yaml + a DeepMath-format file + a model folder: no split but `train`, the SAE on
    the pool's prompts, the six benchmarks as eval sets (fixture files in their published columns)."""
    from test_benchmarks import FIXTURES, write_jsonl

    _, store = tiny
    folder = str(real_shape_model)
    files = {name: str(write_jsonl(tmp_path / f"{name}.jsonl", rows)) for name, rows in FIXTURES.items()}
    cfg = load_experiment(
        ROOT / "configs" / "real.yaml",
        [
            f"data.source={deepmath_file(tmp_path / 'deepmath.jsonl')}",
            f"activations.source_model={folder}",
            f"rl.target_model={folder}",
            *CPU_SIZES,
            "rl.benchmark_files={" + ", ".join(f"{k}: {v}" for k, v in files.items()) + "}",
            f"store_dir={store.root}",
            f"runs_dir={tmp_path / 'runs'}",
            "name=real-shape",
        ],
    )
    data = build(cfg, store, "data")
    assert data.manifest["info"]["sizes"] == {"train": 240}
    sae = build(cfg, store, "sae")
    sae_cfg = json.loads((sae.path / "sae" / "cfg.json").read_text())
    assert sae_cfg["d_in"] == 896 and sae_cfg["d_sae"] == 4 * 896
    info = build(cfg, store, "activations").manifest["info"]
    assert (info["d_model"], info["n_layers"], info["layer"]) == (896, LAYERS, round(0.55 * LAYERS))
    signals = build(cfg, store, "signals")
    metrics = json.loads((signals.path / "metrics.json").read_text())
    assert metrics["difficulty"]["n_labelled"] == 30
    cur = build(cfg, store, "curriculum")
    assert cur.manifest["info"]["rows"] == 2 * 8
    run = train_run(cfg, store)
    assert json.loads((run / "status.json").read_text())["state"] == "done"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if "eval/average" in r]
    assert [r["step"] for r in evals] == [0, 2]
    assert {f"eval/{name}/accuracy" for name in FIXTURES} <= set(evals[-1])
    condition = json.loads((run / "condition.json").read_text())
    assert condition["family"] == "qwen2" and condition["scale"] > 100_000_000
