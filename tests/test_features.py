"""The features stage's fast path (chunked encode + sparse pooling), its resumable shards, and
tokenizing once: each compared with the straightforward path on small inputs."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from saerl.configlib import to_dict
from saerl.data.arith import generate
from saerl.data.config import ArithConfig
from saerl.models.config import ModelSpec, TokenizerConfig
from saerl.models.tiny import build_model
from saerl.models.tokenizer import train_tokenizer
from saerl.sae.activations import encode_prompts, iter_activations
from saerl.sae.config import ActivationsConfig, FeaturesConfig
from saerl.sae.features import encode_pool, pool, prompt_features
from saerl.store import ArtifactStore

SPLITS = generate(ArithConfig(n_train=200, n_sft=60, n_eval_id=10, n_eval_ood=10))
PROMPTS = [r.prompt for r in SPLITS["train"]]
IDS = [r.id for r in SPLITS["train"]]


class LinearSae(torch.nn.Module):
    """An encoder whose activations may be negative or exactly zero: the general case of `pool`."""

    def __init__(self, d_in: int, d_sae: int, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.w = torch.nn.Parameter(torch.randn(d_in, d_sae))
        self.cfg = SimpleNamespace(d_sae=d_sae, d_in=d_in)

    def encode(self, x):
        y = x @ self.w
        return torch.where(y.abs() < 0.5, torch.zeros_like(y), y)  # many exact zeros, both signs


def topk_sae(d_in: int, d_sae: int = 96, k: int = 6):
    from sae_lens import TopKTrainingSAE, TopKTrainingSAEConfig

    torch.manual_seed(0)
    return TopKTrainingSAE(TopKTrainingSAEConfig(d_in=d_in, d_sae=d_sae, k=k, device="cpu"))


def reference(sae, acts, pooling):
    """The straightforward path: encode each prompt densely, pool the dense rows."""
    with torch.no_grad():
        z = np.stack([pool(sae.encode(a), pooling).numpy() for a in acts])
    raw = np.stack([a.mean(0).numpy() for a in acts])
    return z, raw


@pytest.mark.parametrize("pooling", ["mean", "max"])
@pytest.mark.parametrize("make_sae", [topk_sae, LinearSae], ids=["topk", "signed"])
@pytest.mark.parametrize("chunk_tokens", [1, 7, 100_000])
def test_encode_pool_equals_the_dense_path(pooling, make_sae, chunk_tokens):
    gen = torch.Generator().manual_seed(1)
    lengths = [1, 5, 3, 12, 2, 9, 4]
    acts = [torch.randn(n, 16, generator=gen) for n in lengths]
    sae = make_sae(16, 96)
    z, raw = encode_pool(sae, acts, pooling, chunk_tokens)
    want_z, want_raw = reference(sae, acts, pooling)
    assert z.shape == (len(acts), 96) and z.dtype == np.float32
    np.testing.assert_allclose(z.toarray(), want_z, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(raw, want_raw, rtol=1e-6, atol=1e-6)
    assert not (z.data == 0).any()  # stored entries are the nonzeros only
    if make_sae is LinearSae and pooling == "max":
        assert (want_z < 0).any()  # the case where a silent token's 0 is not the maximum arises


def test_encode_pool_rejects_a_bad_pooling_and_an_empty_prompt():
    sae = LinearSae(4, 8)
    with pytest.raises(ValueError, match="pooling"):
        encode_pool(sae, [torch.randn(2, 4)], "sum")
    with pytest.raises(ValueError, match="no tokens"):
        encode_pool(sae, [torch.randn(2, 4), torch.randn(0, 4)], "mean")


@pytest.fixture(scope="module")
def tokenizer():
    records = SPLITS["sft"] + SPLITS["train"]
    corpus = [r.prompt for r in records] + [r.meta["solution"] for r in records]
    return train_tokenizer(corpus, TokenizerConfig(vocab_size=300))


@pytest.fixture(scope="module")
def model(tokenizer):
    spec = ModelSpec("qwen2-t", "qwen2", hidden_size=32, num_layers=2, num_heads=1, intermediate_size=64)
    return build_model(spec, tokenizer, seed=0).eval()


class CountingSae(torch.nn.Module):
    """Wraps an SAE: counts the tokens it encodes, and raises (a kill) after ``fail_after`` calls."""

    def __init__(self, sae, fail_after: int | None = None) -> None:
        super().__init__()
        self.sae, self.cfg, self.fail_after = sae, sae.cfg, fail_after
        self.calls, self.tokens = 0, 0

    def encode(self, x):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt("killed")
        self.calls += 1
        self.tokens += len(x)
        return self.sae.encode(x)


def test_prompt_features_match_the_dense_path_in_input_order(model, tokenizer):
    sae = topk_sae(32)
    cfg = ActivationsConfig(batch_size=16)
    feats = prompt_features(model, tokenizer, sae, PROMPTS[:50], IDS[:50], 1, cfg, "mean", chunk_tokens=64)
    acts: list = [None] * 50
    for batch in iter_activations(model, tokenizer, PROMPTS[:50], 1, cfg):
        for i, a in zip(batch.idx, batch.acts, strict=True):
            acts[i] = a
    want_z, want_raw = reference(sae, acts, "mean")
    np.testing.assert_allclose(feats.z.toarray(), want_z, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(feats.raw, want_raw, rtol=1e-5, atol=1e-6)
    assert feats.ids == IDS[:50] and feats.reused == 0


def test_an_interrupted_build_resumes_from_its_shards(model, tokenizer, tmp_path):
    sae = topk_sae(32)
    cfg = ActivationsConfig(batch_size=8)
    whole = prompt_features(model, tokenizer, sae, PROMPTS, IDS, 1, cfg, "mean")

    killed = CountingSae(sae, fail_after=9)
    with pytest.raises(KeyboardInterrupt):
        prompt_features(
            model, tokenizer, killed, PROMPTS, IDS, 1, cfg, "mean", shards=tmp_path, shard_prompts=20
        )
    assert len(list(tmp_path.glob("shard-*.npz"))) == 3  # 9 batches of 8 done: 3 full shards of >= 20
    assert not list(tmp_path.glob(".shard-*"))

    resumed = CountingSae(sae)
    feats = prompt_features(
        model, tokenizer, resumed, PROMPTS, IDS, 1, cfg, "mean", shards=tmp_path, shard_prompts=20
    )
    assert feats.reused == 72 and feats.ids == IDS
    computed = sum(len(a) for b in iter_activations(model, tokenizer, PROMPTS, 1, cfg) for a in b.acts)
    assert 0 < resumed.tokens < computed  # only the prompts the shards lack were encoded
    np.testing.assert_allclose(feats.z.toarray(), whole.z.toarray(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(feats.raw, whole.raw, rtol=1e-5, atol=1e-6)


def test_torn_and_foreign_shards_are_set_aside_and_recomputed(model, tokenizer, tmp_path):
    sae = topk_sae(32)
    cfg = ActivationsConfig(batch_size=8)
    prompts, ids = PROMPTS[:40], IDS[:40]
    whole = prompt_features(
        model, tokenizer, sae, prompts, ids, 1, cfg, "max", shards=tmp_path, shard_prompts=16
    )
    shards = sorted(tmp_path.glob("shard-*.npz"))
    assert len(shards) == 3  # 16 + 16 + the last 8 (kept too: a later split's failure must not lose it)
    shards[0].write_bytes(shards[0].read_bytes()[:100])  # torn
    other = [f"x{i}" for i in range(40)]  # the same positions, other records
    feats = prompt_features(
        model, tokenizer, sae, prompts, other, 1, cfg, "max", shards=tmp_path, shard_prompts=16
    )
    assert feats.reused == 0 and len(list(tmp_path.glob("*.bad"))) == 3
    np.testing.assert_allclose(feats.z.toarray(), whole.z.toarray(), rtol=1e-5, atol=1e-6)


def test_a_sigkilled_build_loses_only_its_unfinished_shard(model, tokenizer, tmp_path):
    """A real kill (SIGKILL) of a process writing shards: what it finished is reused."""
    model.save_pretrained(tmp_path / "model", safe_serialization=True)
    tokenizer.save_pretrained(tmp_path / "model")
    shards = tmp_path / "shards"
    script = textwrap.dedent(
        f"""
        import time, torch
        from pathlib import Path
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from sae_lens import TopKTrainingSAE, TopKTrainingSAEConfig
        from saerl.data.arith import generate
        from saerl.data.config import ArithConfig
        from saerl.sae.config import ActivationsConfig
        from saerl.sae.features import prompt_features

        recs = generate(ArithConfig(n_train=200, n_sft=60, n_eval_id=10, n_eval_ood=10))["train"]
        model = AutoModelForCausalLM.from_pretrained({str(tmp_path / "model")!r}).eval()
        tok = AutoTokenizer.from_pretrained({str(tmp_path / "model")!r})
        torch.manual_seed(0)
        sae = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=32, d_sae=96, k=6, device="cpu"))
        encode = sae.encode
        def slow(x):
            time.sleep(0.05)
            return encode(x)
        sae.encode = slow
        while True:
            prompt_features(model, tok, sae, [r.prompt for r in recs], [r.id for r in recs], 1,
                            ActivationsConfig(batch_size=4), "mean",
                            shards=Path({str(shards)!r}), shard_prompts=12)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(list(shards.glob("shard-*.npz"))) < 3:
            assert proc.poll() is None, "the builder died on its own"
            assert time.monotonic() < deadline, "no shards written in 120 s"
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    sae = topk_sae(32)
    cfg = ActivationsConfig(batch_size=4)
    whole = prompt_features(model, tokenizer, sae, PROMPTS, IDS, 1, cfg, "mean")
    feats = prompt_features(
        model, tokenizer, sae, PROMPTS, IDS, 1, cfg, "mean", shards=shards, shard_prompts=12
    )
    assert feats.reused >= 36
    np.testing.assert_allclose(feats.z.toarray(), whole.z.toarray(), rtol=1e-5, atol=1e-6)


def test_the_store_keeps_scratch_across_a_failed_build_and_drops_it_after_publishing(tmp_path):
    store = ArtifactStore(tmp_path)
    seen = []

    def failing(ctx):
        (ctx.scratch / "part").parent.mkdir(parents=True, exist_ok=True)
        (ctx.scratch / "part").write_text("half")
        raise RuntimeError("killed")

    def finishing(ctx):
        seen.append((ctx.scratch / "part").read_text())
        (ctx.path / "out").write_text("whole")

    with pytest.raises(RuntimeError):
        store.get_or_build("features", "1", {"a": 1}, failing)
    art = store.get_or_build("features", "1", {"a": 1}, finishing)
    assert seen == ["half"]
    assert (art.path / "out").read_text() == "whole"
    assert not list((tmp_path / "features").glob(".partial-*"))


def test_token_stream_tokenizes_each_prompt_once(model, tokenizer, monkeypatch):
    from saerl.sae import stage
    from saerl.sae.config import SaeConfig

    calls = []
    real = type(tokenizer).__call__

    def counting(self, text, *a, **kw):
        calls.append(text)
        return real(self, text, *a, **kw)

    src = stage.Source("m", model, tokenizer, 1, "model.layers.1")
    acfg = ActivationsConfig(batch_size=8, shuffle_buffer_tokens=64)
    scfg = SaeConfig(batch_size_tokens=32, training_tokens=64)
    prompts = PROMPTS[:30]
    total = sum(len(a) for b in iter_activations(model, tokenizer, prompts, 1, acfg) for a in b.acts)
    monkeypatch.setattr(type(tokenizer), "__call__", counting)
    stream = stage.token_stream(src, prompts, acfg, scfg)
    rows = sum(len(next(stream)) for _ in range(3 * total // 32))  # about three epochs
    assert rows >= 2 * total and len(calls) == len(prompts)


def test_encoded_prompts_batch_exactly_as_tokenizing_again(model, tokenizer):
    cfg = ActivationsConfig(batch_size=8)
    encoded = encode_prompts(tokenizer, PROMPTS[:30], cfg)
    again = list(iter_activations(model, tokenizer, PROMPTS[:30], 1, cfg))
    reused = list(iter_activations(model, tokenizer, PROMPTS[:30], 1, cfg, encoded=encoded))
    assert [b.idx for b in again] == [b.idx for b in reused]
    for a, b in zip(again, reused, strict=True):
        for x, y in zip(a.acts, b.acts, strict=True):
            torch.testing.assert_close(x, y, rtol=0, atol=0)
    with pytest.raises(ValueError, match="2 encodings for 30 prompts"):
        list(iter_activations(model, tokenizer, PROMPTS[:30], 1, cfg, encoded=encoded[:2]))


def test_speed_settings_are_not_part_of_the_features_key():
    fast = FeaturesConfig(chunk_tokens=64, shard_prompts=10)
    assert to_dict(fast, keyed=True) == to_dict(FeaturesConfig(), keyed=True)
    assert to_dict(FeaturesConfig(pooling="max"), keyed=True) != to_dict(FeaturesConfig(), keyed=True)
    assert to_dict(fast)["chunk_tokens"] == 64  # still in the recorded config
    with pytest.raises(ValueError, match="chunk_tokens"):
        FeaturesConfig(chunk_tokens=0)
