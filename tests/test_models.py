import pytest
import torch

from saerl.config import load_experiment
from saerl.data.arith import generate
from saerl.data.config import ArithConfig
from saerl.data.noise import OFF_TOPIC
from saerl.models.config import ModelSpec, SftConfig, TokenizerConfig
from saerl.models.loading import format_prompt, load_model, load_tokenizer
from saerl.models.sft import encode_examples, run_sft
from saerl.models.tiny import build_model
from saerl.models.tokenizer import IM_END, train_tokenizer

SPLITS = generate(ArithConfig(n_train=200, n_sft=200, n_eval_id=20, n_eval_ood=20))
TINY = {
    arch: ModelSpec(f"{arch}-t", arch, hidden_size=64, num_layers=2, num_heads=2, intermediate_size=128)
    for arch in ("qwen2", "llama")
}


@pytest.fixture(scope="module")
def tokenizer():
    records = SPLITS["sft"] + SPLITS["train"]
    corpus = [r.prompt for r in records] + [r.meta["solution"] for r in records] + list(OFF_TOPIC)
    return train_tokenizer(corpus, TokenizerConfig(vocab_size=300))


def test_tokenizer_round_trips_text_and_keeps_digits_single(tokenizer):
    texts = [r.prompt for r in SPLITS["train"][:50]] + [SPLITS["sft"][0].meta["solution"], "Héllo wörld ∑ 12"]
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert ids, text
        assert tokenizer.decode(ids) == text
    pieces = tokenizer.tokenize("Compute 1234+987.")
    digits = [p for p in pieces if any(c.isdigit() for c in p)]
    assert digits == list("1234987")


def test_chat_template_wraps_the_user_turn(tokenizer):
    text = format_prompt(tokenizer, "What is 2+3?")
    assert text == "<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n"
    assert format_prompt(tokenizer, "raw", chat_template=False) == "raw"
    assert tokenizer.convert_tokens_to_ids(IM_END) == tokenizer.eos_token_id


@pytest.mark.parametrize("arch", ["qwen2", "llama"])
def test_ids_we_train_with_are_the_ids_we_load(tmp_path, tokenizer, arch):
    # FACTS.md: AutoTokenizer on a qwen2 folder may pick a different tokenizer class with other ids.
    model = build_model(TINY[arch], tokenizer, seed=0)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded = load_tokenizer(tmp_path)
    for r in SPLITS["train"][:30]:
        text = format_prompt(tokenizer, r.prompt) + r.meta["solution"] + IM_END
        assert (
            loaded(text, add_special_tokens=False)["input_ids"]
            == tokenizer(text, add_special_tokens=False)["input_ids"]
        )
    assert loaded.pad_token_id == tokenizer.pad_token_id and loaded.eos_token_id == tokenizer.eos_token_id
    assert loaded.padding_side == "left"


@pytest.mark.parametrize("arch", ["qwen2", "llama"])
def test_model_save_load_identity(tmp_path, tokenizer, arch):
    model = build_model(TINY[arch], tokenizer, seed=0).eval()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    assert not list(tmp_path.glob("*.bin"))
    loaded = load_model(tmp_path, device="cpu")
    assert type(loaded).__name__ == {"qwen2": "Qwen2ForCausalLM", "llama": "LlamaForCausalLM"}[arch]
    ids = torch.tensor([tokenizer("Compute 12+34.")["input_ids"]])
    with torch.no_grad():
        assert torch.equal(model(ids).logits, loaded(ids).logits)
    for (name, p), (name2, q) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert name == name2 and torch.equal(p, q)


def test_load_errors_name_the_model(tmp_path):
    from saerl.models.loading import ModelError

    with pytest.raises(ModelError, match="nothing-here"):
        load_model(tmp_path / "nothing-here", device="cpu")


def test_sft_masks_the_prompt_and_lowers_the_loss(tokenizer):
    ((ids, labels),) = encode_examples(tokenizer, SPLITS["sft"][:1])
    prompt_len = len(tokenizer(format_prompt(tokenizer, SPLITS["sft"][0].prompt))["input_ids"])
    assert labels[:prompt_len] == [-100] * prompt_len and labels[prompt_len:] == ids[prompt_len:]

    model = build_model(TINY["qwen2"], tokenizer, seed=0)
    batch = encode_examples(tokenizer, SPLITS["sft"][:16])
    width = max(len(i) for i, _ in batch)
    input_ids = torch.tensor([i + [tokenizer.pad_token_id] * (width - len(i)) for i, _ in batch])
    label_ids = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in batch])

    def loss():
        with torch.no_grad():
            return model(input_ids=input_ids, labels=label_ids).loss.item()

    before = loss()
    run_sft(model, tokenizer, SPLITS["sft"], SftConfig(steps=40, batch_size=16, lr=3e-3, warmup_steps=5))
    assert loss() < 0.6 * before


def test_models_stage_builds_once_and_records_figures(store, monkeypatch):
    from saerl.launch.graph import StageGraph
    from saerl.launch.local import LocalExecutor
    from saerl.models import sft as sft_module

    tiny = "hidden_size: 64, num_layers: 2, num_heads: 2, intermediate_size: 128"
    cfg = load_experiment(
        overrides=[
            *(
                "data.arith.n_train=100",
                "data.arith.n_sft=100",
                "data.arith.n_eval_id=10",
                "data.arith.n_eval_ood=10",
            ),
            f"models.family=[{{name: q, arch: qwen2, {tiny}}}, {{name: l, arch: llama, {tiny}}}]",
            *(
                "models.sft.steps=3",
                "models.sft.batch_size=4",
                "models.sft.eval_items=5",
                "models.sft.max_new_tokens=8",
            ),
        ]
    )
    graph = StageGraph(cfg)
    data = LocalExecutor(store).materialize(graph.data)
    first = {n.label[6:]: LocalExecutor(store).materialize(n) for n in graph.models()}
    assert set(first) == {"q", "l"}
    for art in first.values():
        info = art.manifest["info"]
        assert info["params"] > 0 and 0.0 <= info["accuracy_eval_id"] <= 1.0 and info["eval_items"] == 5
        assert load_model(art.path, device="cpu").config.hidden_size == 64
        assert art.manifest["inputs"][0] == data.key

    def must_not_train(*args, **kwargs):
        raise AssertionError("a cached model was retrained")

    monkeypatch.setattr(sft_module, "run_sft", must_not_train)
    second = {n.label[6:]: LocalExecutor(store).materialize(n) for n in StageGraph(cfg).models()}
    assert {k: a.path for k, a in second.items()} == {k: a.path for k, a in first.items()}


def test_chat_generation_stops_at_the_turn_end_of_a_base_models_tokenizer(tiny):
    """Base Qwen2.5's EOS is <|endoftext|>, not the chat turn's <|im_end|>: both must stop."""
    from saerl.config import load_experiment
    from saerl.launch.local import build
    from saerl.models.generation import chat_turn_end, stop_token_ids
    from saerl.models.loading import load_tokenizer
    from saerl.rl.trl_backend import rollout_stops

    overrides, store = tiny
    folder = build(load_experiment(overrides=overrides), store, "tokenizer").path
    tok = load_tokenizer(folder)
    im_end, text_end = tok.convert_tokens_to_ids("<|im_end|>"), tok.convert_tokens_to_ids("<|endoftext|>")
    assert chat_turn_end(tok) == im_end
    assert stop_token_ids(tok) == [im_end]  # the miniature: EOS is the turn end already
    tok.eos_token = "<|endoftext|>"  # as a base Qwen2.5 tokenizer
    assert stop_token_ids(tok, text_end) == [text_end, im_end]
    assert stop_token_ids(tok, [text_end, im_end]) == [text_end, im_end]
    assert rollout_stops(str(folder), tok) == {"eos_token_id": [text_end, im_end]}  # no generation config
    tok.chat_template = None
    assert chat_turn_end(tok) is None and stop_token_ids(tok, text_end) == [text_end]


def test_sft_saturation_curve_evaluates_along_one_schedule(tiny, monkeypatch, tmp_path):
    """The saturation tool: evaluations on the validation split every `every` steps and at the end,
    the SFT time net of evaluation, the same run as the models stage's up to its step count."""
    from saerl.studies import saturation

    overrides, store = tiny
    monkeypatch.chdir(tmp_path)
    seen = []
    import saerl.models.generation as generation

    accuracy = generation.greedy_accuracy

    def spy(model, tok, records, grader, max_new_tokens):
        seen.append(([r.meta["split"] for r in records], model.training))
        return accuracy(model, tok, records, grader, max_new_tokens)

    monkeypatch.setattr(generation, "greedy_accuracy", spy)
    results = saturation.run(
        ["qwen2-xs"], steps=7, every=3, overrides=[*overrides, f"store_dir={store.root}"]
    )
    curve = results["targets"]["qwen2-xs"]["curve"]
    assert [p["step"] for p in curve] == [3, 6, 7]
    assert all(split == ["val"] * 30 and not training for split, training in seen)
    assert all(0 <= p["accuracy"] <= 1 for p in curve)
    assert curve[0]["sft_seconds"] <= curve[-1]["sft_seconds"]
    assert results["targets"]["qwen2-xs"]["saturation_step"] in (3, 6, 7)
    assert "| 6 |" in saturation.markdown(results)
    with pytest.raises(ValueError, match=r"not in models\.family"):
        saturation.run(["gpt-9"], steps=2, every=1, overrides=[*overrides, f"store_dir={store.root}"])


def test_saturation_step_is_the_first_within_tolerance_of_the_best():
    from saerl.studies.saturation import saturation_step

    points = [{"step": s, "accuracy": a} for s, a in [(250, 0.3), (500, 0.5), (750, 0.61), (1000, 0.62)]]
    assert saturation_step(points, 0.02) == 750
    assert saturation_step(points, 0.0) == 1000
    assert saturation_step(points, 0.5) == 250


def test_two_builds_of_the_warm_start_give_identical_weights(tmp_path):
    """The warm-start is a pure function of its config: two builds in fresh processes, with another
    hash seed (set and dict order) and another torch thread count, write byte-identical weights."""
    import hashlib
    import os
    import subprocess
    import sys

    from conftest import TINY_OVERRIDES

    digests = []
    for n, (hash_seed, threads) in enumerate((("1", "2"), ("2", "1"))):
        store = tmp_path / f"store{n}"
        env = os.environ | {"PYTHONHASHSEED": hash_seed, "OMP_NUM_THREADS": threads}
        cmd = [
            sys.executable,
            "-m",
            "saerl",
            "models",
            f"store_dir={store}",
            *TINY_OVERRIDES,
            "models.sft.steps=12",
        ]
        subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
        (weights,) = sorted(store.glob("model/*/model.safetensors"))
        digests.append((weights.relative_to(store), hashlib.sha256(weights.read_bytes()).hexdigest()))
    assert digests[0] == digests[1]
