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
