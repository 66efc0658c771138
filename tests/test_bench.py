"""`make bench`'s parts on small inputs: each runs through the project's own code, the figures it
derives add up, and the markdown names them; the speed figures themselves come from the bench only."""

import json
import subprocess

import pytest

from saerl.bench import miniature as bench
from saerl.data.arith import generate
from saerl.data.config import ArithConfig


@pytest.fixture(scope="module")
def splits():
    return generate(ArithConfig(n_train=200, n_sft=100, n_eval_id=10, n_eval_ood=10, n_val=10))


def test_the_fast_features_path_agrees_with_the_straightforward_one(splits):
    tok = bench._tokenizer(splits)
    out = bench.bench_features_path(tok, [r.prompt for r in splits["train"][:100]], d_sae=512, k=8)
    assert out["equal"] and out["max_abs_difference"] < 1e-4
    assert out["dense_block_mb_fast"] <= out["dense_block_mb_straightforward"]
    assert 8 <= out["nnz_per_prompt"] <= 512


def test_sae_training_is_timed_with_the_real_trainer():
    out = bench.bench_sae_training(widths={"tiny": (16, 48, 4, 4096)})
    assert out["tiny"]["tokens"] == 4096 and out["tiny"]["d_sae"] == 48 and out["tiny"]["tokens_per_s"] > 0
    assert [w[:3] for w in bench.SAE_WIDTHS.values()] == [(128, 256, 32), (896, 16_384, 64)]


def manifest(store, stage, key, wall, info):
    (store / stage / key).mkdir(parents=True)
    (store / stage / key / "manifest.json").write_text(json.dumps({"wall_seconds": wall, "info": info}))


def test_the_miniature_labelling_ratio_comes_from_the_stage_manifests(tmp_path):
    manifest(tmp_path, "labels", "a", 12.0, {"split": "train", "n": 600, "seconds": 12.0, "label_model": "m"})
    manifest(
        tmp_path, "labels", "b", 3.0, {"split": "eval_ood", "n": 100, "seconds": 3.0, "label_model": "m"}
    )
    manifest(tmp_path, "features", "c", 5.0, {"splits": {"train": {"rows": 3000, "prompts_per_s": 1000.0}}})
    manifest(tmp_path, "activations", "d", 4.0, {})
    manifest(tmp_path, "sae", "e", 30.0, {})
    out = bench.miniature_labelling(tmp_path)
    assert out["labels_s_per_prompt"] == 0.02 and out["features_s_per_prompt"] == 0.001
    assert out["per_prompt_ratio"] == 20.0
    assert out["whole_route_s"] == 39.0 and out["labelling_pool_s"] == 60.0
    assert out["whole_route_ratio"] == round(60 / 39, 2)
    assert bench.miniature_labelling(tmp_path / "empty") == {}


def test_the_demo_runs_in_a_copy_of_the_tracked_files_only(tmp_path):
    repo = tmp_path / "repo"
    (repo / "sub").mkdir(parents=True)
    (repo / "sub" / "a.txt").write_text("tracked")
    (repo / "out.log").write_text("ignored output")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "sub/a.txt"], cwd=repo, check=True)
    (repo / "sub" / "a.txt").write_text("edited")  # as on disk, edits included
    dest = tmp_path / "copy"
    bench.tracked_copy(repo, dest)
    assert (dest / "sub" / "a.txt").read_text() == "edited" and not (dest / "out.log").exists()


def test_the_markdown_names_every_part():
    from saerl.bench import shapes as bench_shapes

    shape = {
        "params_millions": 1,
        "layer": 2,
        "n_layers": 4,
        "prompts": 2,
        "tokens_per_prompt": 8,
        "sae_route_s": 0.1,
        "full_forward_s": 0.2,
        "sae_route_tokens_per_s": 160,
        "full_forward_tokens_per_s": 80,
        "ratio": 2.0,
        "decode_batch": 16,
        "decode_tokens_per_s": 50.0,
        "sae_route_tflops_per_s": 0.01,
        "labelling": {
            "samples": 16,
            "completion_tokens": 1024,
            "sae_route_s_per_prompt": 0.05,
            "rollout_s_per_prompt": 327.8,
            "ratio": 6556,
            "pool": 103000,
            "sae_route_hours_for_pool": 1.43,
            "rollout_hours_for_pool": 9378.0,
        },
    }
    machine = {"cpu_count": 2, "torch_threads": 2, "python": "3.11", "torch": "2", "device": "cpu (float32)"}
    results = {
        "machine": machine,
        "data_items_per_s": 1000,
        "tokenizer_train_s": 0.5,
        "models": ["m"],
        "m": {"params": 10, "sft_tokens_per_s": 5, "greedy_prompts_per_s": 1.0, "greedy_new_tokens_per_s": 9},
        "activations": {
            "model": "m",
            "prompts": 3,
            "prompts_per_s_early_stop": 9,
            "layer": 2,
            "n_layers": 4,
            "prompts_per_s_full_forward": 7,
        },
        "features_path": {
            "d_sae": 16384,
            "k": 64,
            "model": "m",
            "prompts": 10,
            "straightforward_prompts_per_s": 1,
            "dense_block_mb_straightforward": 9.0,
            "fast_prompts_per_s": 2,
            "dense_block_mb_fast": 3.0,
            "ratio": 2.0,
            "max_abs_difference": 0.0,
            "nnz_per_prompt": 5.0,
        },
        "sae_training": {"w": {"tokens": 1024, "seconds": 1.0, "tokens_per_s": 1024}},
        "real_shapes": {"machine": {**machine, "peak_bf16_tflops": None}, "shapes": {"Qwen2.5-0.5B": shape}},
        "demo": {"wall_s": 600.0, "grpo_step_s_median": 12.5, "grpo_steps_timed": 120, "labelling": {}},
    }
    text = bench.markdown(results)
    for needle in (
        "| m | 10 |",
        "16,384 latents",
        "| w | 1,024 |",
        "| Qwen2.5-0.5B |",
        "6,556x",
        "Wall time 10.0 min",
        "12.5 s",
    ):
        assert needle in text, needle
    assert bench_shapes.COMPLETION_TOKENS == 1024
