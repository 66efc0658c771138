"""The activations -> sae -> features stages through the store, on a tiny config."""

import numpy as np
import pytest
from conftest import TINY_OVERRIDES

from saerl.config import load_config
from saerl.data.stage import load_split
from saerl.sae.features import load_features
from saerl.sae.training import SaeError


@pytest.fixture(scope="module")
def built(tiny):
    from saerl.sae.stage import features_stage, sae_stage

    overrides, store = tiny
    cfg = load_config(overrides=overrides)
    return cfg, store, sae_stage(cfg, store), features_stage(cfg, store)


def test_features_cover_every_split_with_sparse_rows(built):
    cfg, store, _sae_art, feats_art = built
    from saerl.data.stage import data_stage

    data = data_stage(cfg, store)
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
    from saerl.sae.stage import features_stage, sae_stage

    monkeypatch.setattr(training, "train_sae", lambda *a, **k: pytest.fail("SAE retrained"))
    assert sae_stage(cfg, store).path == sae_art.path
    assert features_stage(cfg, store).path == feats_art.path


def test_pretrained_sae_is_used_instead_of_training(built):
    _cfg, store, sae_art, feats_art = built
    from saerl.sae.stage import features_stage

    cfg2 = load_config(overrides=[*TINY_OVERRIDES, f"sae.pretrained={sae_art.path / 'sae'}"])
    feats2 = features_stage(cfg2, store)
    assert feats2.path != feats_art.path  # a different SAE config, so a different key
    a = load_features(feats_art.path, "eval_id").z.toarray()
    b = load_features(feats2.path, "eval_id").z.toarray()
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_pretrained_sae_of_the_wrong_width_fails_naming_both(built, tmp_path):
    _cfg, store, _, _ = built
    from sae_lens import TopKTrainingSAE, TopKTrainingSAEConfig

    from saerl.sae.stage import sae_stage
    from saerl.sae.training import save_sae

    save_sae(TopKTrainingSAE(TopKTrainingSAEConfig(d_in=32, d_sae=64, k=4, device="cpu")), tmp_path / "w")
    cfg2 = load_config(overrides=[*TINY_OVERRIDES, f"sae.pretrained={tmp_path / 'w'}"])
    with pytest.raises(
        SaeError, match=r"SAE d_in=32 does not match hidden size 64 of qwen2-xs at model\.layers\.2"
    ):
        sae_stage(cfg2, store)


def test_layer_out_of_range_fails_before_any_work(built):
    from saerl.sae.activations import ActivationError
    from saerl.sae.stage import activations_stage

    _, store, _, _ = built
    cfg = load_config(overrides=[*TINY_OVERRIDES, "activations.layer=7"])
    with pytest.raises(ActivationError, match=r"layer 7 out of range: the model has 3 layers"):
        activations_stage(cfg, store)
