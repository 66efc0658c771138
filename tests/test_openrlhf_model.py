"""The model folder an OpenRLHF run loads stops where every other generation path stops: a base
model whose EOS is <|endoftext|> (as Qwen2.5's) gets the chat turn end <|im_end|> in the
generation_config.json that vLLM 0.29 reads for every request (saerl/rl/openrlhf/model.py)."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def base_model(tiny, tmp_path):
    return make_base_model(tiny, tmp_path)


def make_base_model(tiny, tmp_path):
    """A random-init Qwen2 folder with the miniature's tokenizer made base-like: EOS <|endoftext|>,
    generation config EOS <|endoftext|>, chat template closing turns with <|im_end|>."""
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    from saerl.config import load_experiment
    from saerl.launch.local import build
    from saerl.models.loading import load_tokenizer

    overrides, store = tiny
    tok = load_tokenizer(build(load_experiment(overrides=overrides), store, "tokenizer").path)
    tok.eos_token = "<|endoftext|>"
    text_end = tok.convert_tokens_to_ids("<|endoftext|>")
    config = Qwen2Config(
        vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, eos_token_id=text_end,
    )  # fmt: skip
    folder = tmp_path / "base-model"
    Qwen2ForCausalLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    GenerationConfig(eos_token_id=text_end, max_new_tokens=2048, do_sample=True).save_pretrained(folder)
    return folder, tok


def test_the_actor_folder_adds_the_turn_end_to_the_generation_config_vllm_reads(base_model, tmp_path):
    from transformers import AutoModelForCausalLM, GenerationConfig

    from saerl.rl.openrlhf.model import write_actor_folder

    folder, tok = base_model
    text_end, im_end = tok.convert_tokens_to_ids(["<|endoftext|>", "<|im_end|>"])
    dest = tmp_path / "run" / "openrlhf" / "actor-model"
    rule = write_actor_folder(str(folder), dest)
    assert rule.ids == [text_end, im_end] and rule.added == ["<|im_end|>"]
    assert "<|im_end|> added to the model's own <|endoftext|>" in rule.describe()
    # vLLM's ModelConfig.try_get_generation_config reads exactly this (GenerationConfig.from_pretrained)
    assert GenerationConfig.from_pretrained(dest).eos_token_id == [text_end, im_end]
    written = json.loads((dest / "generation_config.json").read_text())
    assert written["max_new_tokens"] == 2048 and written["do_sample"] is True  # the rest kept as is
    assert json.loads((folder / "generation_config.json").read_text())["eos_token_id"] == text_end
    model = AutoModelForCausalLM.from_pretrained(dest)  # weights and tokenizer through the links
    assert model.generation_config.eos_token_id == [text_end, im_end]
    assert (dest / "model.safetensors").is_symlink()
    rule_again = write_actor_folder(str(folder), dest)  # a requeued job rewrites it in place
    assert rule_again == rule and not list(dest.parent.glob(".actor-model*"))


def test_a_target_that_is_not_on_the_node_is_named_in_the_error(tmp_path):
    from saerl.rl.openrlhf.model import TargetModelError, write_actor_folder

    with pytest.raises(TargetModelError, match=r"rl.target_model=/nope/model: no such folder"):
        write_actor_folder("/nope/model", tmp_path / "actor-model")
    with pytest.raises(TargetModelError, match=r"rl.target_model=no-org/no-model: its files are not on"):
        write_actor_folder("no-org/no-model", tmp_path / "actor-model")  # offline, not cached
    assert not (tmp_path / "actor-model").exists()
