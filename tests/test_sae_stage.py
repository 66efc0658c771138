"""The activations -> sae -> features stages through the store, on a tiny config."""

import numpy as np
import pytest
from conftest import TINY_OVERRIDES

from saerl.config import load_experiment
from saerl.data.stage import load_split
from saerl.launch.local import build
from saerl.sae.features import load_features
from saerl.sae.training import SaeError


@pytest.fixture(scope="module")
def built(tiny):
    overrides, store = tiny
    cfg = load_experiment(overrides=overrides)
    return cfg, store, build(cfg, store, "sae"), build(cfg, store, "features")


def test_features_cover_every_split_with_sparse_rows(built):
    cfg, store, _sae_art, feats_art = built
    data = build(cfg, store, "data")
    for split in cfg.features.splits:
        feats = load_features(feats_art.path, split)
        assert feats.ids == [r.id for r in load_split(data, split)]
        assert feats.z.shape == (len(feats.ids), 4 * 64)
        assert feats.z.format == "csr" and feats.z.nnz > 0
        assert feats.raw.shape == (len(feats.ids), 64) and np.isfinite(feats.raw).all()
        info = feats_art.manifest["info"]["splits"][split]
        assert info["rows"] == len(feats.ids) and info["prompts_per_s"] > 0
    assert feats_art.manifest["info"]["layer"] == 2  # round(0.55 * 3)
    assert not list(feats_art.path.glob("*token*"))  # no token-level activations on disk


def test_sae_metrics_are_recorded(built):
    _, _, sae_art, _ = built
    info = sae_art.manifest["info"]
    assert set(info) >= {"explained_variance", "l0", "dead_fraction", "mse", "train_seconds"}
    assert info["l0"] <= 8 + 1e-6
    assert (sae_art.path / "sae" / "cfg.json").exists()
    assert info["hook_name"] == "model.layers.2"


def test_stages_reuse_their_artifacts(built, monkeypatch):
    cfg, store, sae_art, feats_art = built
    from saerl.sae import training

    monkeypatch.setattr(training, "train_sae", lambda *a, **k: pytest.fail("SAE retrained"))
    assert build(cfg, store, "sae").path == sae_art.path
    assert build(cfg, store, "features").path == feats_art.path


def test_pretrained_sae_is_used_instead_of_training(built):
    _cfg, store, sae_art, feats_art = built
    cfg2 = load_experiment(overrides=[*TINY_OVERRIDES, f"sae.pretrained={sae_art.path / 'sae'}"])
    feats2 = build(cfg2, store, "features")
    assert feats2.path != feats_art.path  # a different SAE config, so a different key
    a = load_features(feats_art.path, "eval_id").z.toarray()
    b = load_features(feats2.path, "eval_id").z.toarray()
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_pretrained_sae_of_the_wrong_width_fails_naming_both(built, tmp_path):
    _cfg, store, _, _ = built
    from sae_lens import TopKTrainingSAE, TopKTrainingSAEConfig

    from saerl.sae.training import save_sae

    save_sae(TopKTrainingSAE(TopKTrainingSAEConfig(d_in=32, d_sae=64, k=4, device="cpu")), tmp_path / "w")
    cfg2 = load_experiment(overrides=[*TINY_OVERRIDES, f"sae.pretrained={tmp_path / 'w'}"])
    with pytest.raises(
        SaeError, match=r"SAE d_in=32 does not match hidden size 64 of qwen2-xs at model\.layers\.2"
    ):
        build(cfg2, store, "sae")


def test_layer_out_of_range_fails_before_any_work(built):
    from saerl.sae.activations import ActivationError

    _, store, _, _ = built
    cfg = load_experiment(overrides=[*TINY_OVERRIDES, "activations.layer=7"])
    with pytest.raises(ActivationError, match=r"layer 7 out of range: the model has 3 layers"):
        build(cfg, store, "activations")


def test_a_killed_features_build_resumes_from_its_shards_and_cleans_up(built, monkeypatch):
    """The stage through the store: a build that dies mid-split leaves its finished shards in the
    key's scratch folder; the next build reuses them, equals a build from scratch, and removes them.
    The speed settings do not change the key."""
    from saerl.sae import features

    _cfg, store, _sae_art, _ = built
    overrides = [*TINY_OVERRIDES, "features.pooling=max", "features.shard_prompts=32"]
    cfg_max = load_experiment(overrides=overrides)
    real, calls = features.encode_pool, []

    def dies_on_the_third(*a, **k):
        calls.append(1)
        if len(calls) == 3:  # the train split has 4 batches of 64
            raise KeyboardInterrupt("killed")
        return real(*a, **k)

    monkeypatch.setattr(features, "encode_pool", dies_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        build(cfg_max, store, "features")
    partial = list((store.root / "features").glob(".partial-*"))
    assert len(partial) == 1 and list(partial[0].glob("train/shard-*.npz"))
    monkeypatch.setattr(features, "encode_pool", real)
    resumed = build(
        load_experiment(overrides=[*overrides[:-1], "features.shard_prompts=1000"]), store, "features"
    )
    assert partial[0].name == f".partial-{resumed.key}"  # same key whatever shard_prompts is
    assert resumed.manifest["info"]["splits"]["train"]["reused_from_shards"] > 0
    assert not partial[0].exists()
    from saerl.sae.stage import Scorer

    data, source, sae = (build(cfg_max, store, s) for s in ("data", "source", "sae"))
    scorer = Scorer.load(source, sae, cfg_max.activations, "max", "cpu")
    records = load_split(data, "train")
    whole = scorer.features([r.prompt for r in records], [r.id for r in records])  # from scratch
    np.testing.assert_allclose(
        load_features(resumed.path, "train").z.toarray(), whole.z.toarray(), rtol=1e-5, atol=1e-6
    )
