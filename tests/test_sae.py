import pytest
import torch

from saerl.data.arith import generate
from saerl.data.config import ArithConfig
from saerl.data.noise import OFF_TOPIC
from saerl.models.config import ModelSpec, TokenizerConfig
from saerl.models.tiny import build_model
from saerl.models.tokenizer import train_tokenizer
from saerl.sae.activations import (
    ActivationError,
    capture_layer,
    iter_activations,
    prompt_batches,
    resolve_layer,
    run_to_layer,
    shuffled_batches,
)
from saerl.sae.config import ActivationsConfig, SaeConfig
from saerl.sae.features import prompt_features
from saerl.sae.training import SaeError, check_fits, evaluate_sae, load_sae, save_sae, train_sae

SPLITS = generate(ArithConfig(n_train=120, n_sft=60, n_eval_id=10, n_eval_ood=10))
PROMPTS = [r.prompt for r in SPLITS["train"][:24]]


@pytest.fixture(scope="module")
def tokenizer():
    records = SPLITS["sft"] + SPLITS["train"]
    corpus = [r.prompt for r in records] + [r.meta["solution"] for r in records] + list(OFF_TOPIC)
    return train_tokenizer(corpus, TokenizerConfig(vocab_size=300))


@pytest.fixture(scope="module", params=["qwen2", "llama"])
def model(request, tokenizer):
    spec = ModelSpec(
        f"{request.param}-t", request.param, hidden_size=64, num_layers=4, num_heads=2, intermediate_size=128
    )
    return build_model(spec, tokenizer, seed=0).eval()


def one_batch(tokenizer, prompts, **kw):
    cfg = ActivationsConfig(batch_size=len(prompts), **kw)
    return next(prompt_batches(tokenizer, prompts, cfg))


def test_hook_output_equals_output_hidden_states(model, tokenizer):
    batch = one_batch(tokenizer, PROMPTS[:8])
    for layer in (0, 2):
        with capture_layer(model, layer, stop=False) as box, torch.no_grad():
            out = model(
                input_ids=batch.input_ids, attention_mask=batch.attention_mask, output_hidden_states=True
            )
        # hidden_states[0] is the embedding output, so layer L's output is hidden_states[L + 1].
        torch.testing.assert_close(box["out"], out.hidden_states[layer + 1], rtol=0, atol=0)


def test_early_stop_gives_the_same_activations_as_the_full_forward(model, tokenizer):
    batch = one_batch(tokenizer, PROMPTS[:8])
    results = {}
    for stop in (True, False):
        calls: list[int] = []
        last = model.model.layers[-1].register_forward_hook(lambda *a, calls=calls: calls.append(1))
        with capture_layer(model, 1, stop=stop) as box, torch.no_grad():
            results[stop] = run_to_layer(model, box, batch.input_ids, batch.attention_mask)
        last.remove()
        assert (len(calls) == 0) is stop  # the top layer never runs when stopping early
    torch.testing.assert_close(results[True], results[False], rtol=0, atol=0)


def test_content_mask_keeps_exactly_the_user_text(tokenizer):
    batch = one_batch(tokenizer, PROMPTS[:4])
    for row, i in enumerate(batch.idx):
        kept = batch.input_ids[row][batch.prompt_mask[row]].tolist()
        assert tokenizer.decode(kept) == PROMPTS[i]
    batch = one_batch(tokenizer, PROMPTS[:4], tokens="non_special")
    specials = set(tokenizer.all_special_ids)
    for row in range(4):
        kept = batch.input_ids[row][batch.prompt_mask[row]].tolist()
        assert kept and not specials & set(kept)
        assert "user" in tokenizer.decode(kept)  # the template's role text counts under non_special


def test_padding_never_leaks_into_pooled_features(model, tokenizer):
    sae = load_sae_for(model)
    cfg = ActivationsConfig(batch_size=16)
    ids = [f"r{i}" for i in range(len(PROMPTS))]
    batched = prompt_features(model, tokenizer, sae, PROMPTS, ids, 2, cfg, "mean")
    for i in (0, 5, 17):
        alone = prompt_features(model, tokenizer, sae, [PROMPTS[i]], [ids[i]], 2, cfg, "mean")
        diff = abs(alone.z.toarray()[0] - batched.z.toarray()[i]).max()
        assert diff < 1e-5, (PROMPTS[i], diff)
        assert abs(alone.raw[0] - batched.raw[i]).max() < 1e-5
    assert batched.z.shape == (len(PROMPTS), sae.cfg.d_sae)


def load_sae_for(model):
    from sae_lens import TopKTrainingSAE, TopKTrainingSAEConfig

    torch.manual_seed(0)
    return TopKTrainingSAE(TopKTrainingSAEConfig(d_in=model.config.hidden_size, d_sae=128, k=8, device="cpu"))


def test_max_pooling_takes_the_largest_token_activation(model, tokenizer):
    sae = load_sae_for(model)
    cfg = ActivationsConfig()
    (batch,) = list(iter_activations(model, tokenizer, PROMPTS[:1], 2, cfg))
    with torch.no_grad():
        token_feats = sae.encode(batch.acts[0])
    feats = prompt_features(model, tokenizer, sae, PROMPTS[:1], ["a"], 2, cfg, "max")
    torch.testing.assert_close(torch.tensor(feats.z.toarray()[0]), token_feats.max(0).values)


@pytest.mark.parametrize("arch", ["topk", "batchtopk", "jumprelu", "standard"])
def test_sae_saved_and_loaded_encodes_identically(tmp_path, arch):
    cfg = SaeConfig(architecture=arch, d_sae=64, k=4, training_tokens=512, batch_size_tokens=128)
    gen = torch.Generator().manual_seed(0)
    batches = iter([torch.randn(128, 16, generator=gen) for _ in range(4)])
    sae = train_sae(cfg, batches, d_in=16, device="cpu", hook_name="model.layers.1", model_name="t")
    save_sae(sae, tmp_path / "sae")
    loaded = load_sae(tmp_path / "sae")
    save_sae(loaded, tmp_path / "again")
    reloaded = load_sae(tmp_path / "again")
    x = torch.randn(32, 16, generator=gen)
    with torch.no_grad():
        torch.testing.assert_close(reloaded.encode(x), loaded.encode(x), rtol=0, atol=0)
        if arch == "batchtopk":
            # sae-lens saves BatchTopK as JumpReLU: a learned threshold replaces the batch-level top-k.
            assert type(loaded).__name__ == "JumpReLUSAE"
        else:
            torch.testing.assert_close(loaded.encode(x), sae.encode(x), rtol=1e-5, atol=1e-6)
    assert loaded.cfg.metadata.hook_name == "model.layers.1"


def test_topk_sae_learns_a_sparse_dictionary():
    # Ground truth: tokens are sparse non-negative mixtures of 48 random unit directions in 32-d.
    gen = torch.Generator().manual_seed(0)
    dictionary = torch.nn.functional.normalize(torch.randn(48, 32, generator=gen), dim=-1)

    def sample(n):
        codes = torch.zeros(n, 48)
        idx = torch.randint(48, (n, 3), generator=gen)
        codes.scatter_(1, idx, torch.rand(n, 3, generator=gen) + 0.5)
        return codes @ dictionary

    batches = (sample(256) for _ in range(10_000))
    cfg = SaeConfig(d_sae=96, k=6, lr=3e-3, training_tokens=256 * 600, batch_size_tokens=256)
    sae = train_sae(cfg, batches, d_in=32, device="cpu", hook_name="h", model_name="synthetic")
    metrics = evaluate_sae(sae, sample(4096))
    assert metrics.explained_variance > 0.9
    assert metrics.l0 <= 6


def test_shuffled_batches_mix_and_keep_every_row():
    chunks = [torch.arange(i * 10, i * 10 + 10, dtype=torch.float32)[:, None] for i in range(30)]
    out = list(shuffled_batches(iter(chunks), capacity=64, batch_size=20, seed=0))
    assert all(b.shape == (20, 1) for b in out)
    seen = torch.cat(out).flatten()
    assert len(seen) == 300 and len(set(seen.tolist())) == 300
    assert not torch.equal(seen, torch.arange(300, dtype=torch.float32))  # order was mixed
    # Rows of the first batch come from more than two input chunks.
    assert len({int(v) // 10 for v in out[0].flatten().tolist()}) > 2


def test_layer_out_of_range_is_named(model):
    assert resolve_layer(model, -1) == 2  # round(0.55 * 4)
    with pytest.raises(ActivationError, match=r"layer 4 out of range: the model has 4 layers \(0\.\.3\)"):
        resolve_layer(model, 4)


def test_empty_prompt_after_masking_names_the_record(tokenizer):
    cfg = ActivationsConfig()
    with pytest.raises(ActivationError, match=r"record bad-1: no prompt tokens left after masking"):
        next(prompt_batches(tokenizer, ["Compute 1+2.", ""], cfg, ids=["ok-0", "bad-1"]))


def test_non_finite_activations_name_the_records(model, tokenizer):
    seven = tokenizer.convert_tokens_to_ids("7")
    emb = model.get_input_embeddings().weight
    saved = emb[seven].clone()
    with torch.no_grad():
        emb[seven] = float("nan")
    try:
        prompts = ["Compute 12+3.", "Compute 17+3.", "Compute 4+5."]
        with pytest.raises(ActivationError, match=r"non-finite activations at layer 1 for records \['b'\]"):
            list(iter_activations(model, tokenizer, prompts, 1, ActivationsConfig(), ids=["a", "b", "c"]))
    finally:
        with torch.no_grad():
            emb[seven] = saved


def test_sae_width_mismatch_names_both_sides(model):
    sae = load_sae_for(model)
    check_fits(sae, model.config.hidden_size, "m")
    with pytest.raises(
        SaeError, match=r"SAE d_in=64 does not match hidden size 128 of qwen2-xs at model\.layers\.2"
    ):
        check_fits(sae, 128, "qwen2-xs at model.layers.2")


def test_unloadable_sae_is_a_clear_error(tmp_path):
    with pytest.raises(SaeError, match="not a folder in sae-lens format"):
        load_sae(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SaeError, match=r"empty: cannot load SAE"):
        load_sae(tmp_path / "empty")
