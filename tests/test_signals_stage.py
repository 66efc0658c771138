"""labels -> signals -> curriculum through the store, on the shared tiny miniature."""

import json

import numpy as np
import pytest
from conftest import TINY_OVERRIDES

from saerl.config import load_experiment
from saerl.curriculum.stage import FILE, read_curriculum, write_curriculum
from saerl.data.stage import load_split
from saerl.launch.graph import StageGraph
from saerl.launch.local import LocalExecutor, build
from saerl.signals.stage import read_labels, read_signals


@pytest.fixture(scope="module")
def signals(tiny):
    overrides, store = tiny
    cfg = load_experiment(overrides=overrides)
    return cfg, store, build(cfg, store, "signals")


def test_signals_cover_every_train_prompt(signals):
    cfg, store, art = signals
    rows = read_signals(art)
    train = load_split(build(cfg, store, "data"), "train")
    assert [r["id"] for r in rows] == [r.id for r in train]
    assert {r["cluster"] for r in rows} <= {0, 1, 2}
    assert all(0.0 <= r["quality"] <= 1.0 for r in rows)
    assert all(np.isfinite(r["difficulty"]) for r in rows)
    labelled = [r for r in rows if r["rollout_difficulty"] is not None]
    assert len(labelled) == 60
    m = json.loads((art.path / "metrics.json").read_text())
    assert set(m["difficulty"]["in_distribution"]) == {"sae", "raw", "length", "metadata"}
    assert set(m["difficulty"]["out_of_distribution"]) == {"sae", "raw", "length", "metadata"}
    assert m["topic_probe"]["n_topics"] == 5
    assert 0 <= m["quality"]["sae"]["auc"] <= 1
    assert set(m["quality"]["by_noise_kind"]) >= {"none", "garbled"}


def test_rollout_labels_are_their_own_costed_artifact(signals):
    cfg, store, _ = signals
    art = LocalExecutor(store).materialize(StageGraph(cfg).labels("train", 60))
    labels = read_labels(art)
    assert len(labels) == 60 and all(0.0 <= v <= 1.0 for v in labels.values())
    assert art.manifest["wall_seconds"] > 0 and art.manifest["info"]["n"] == 60


def test_curriculum_file_is_ordered_and_carries_its_config(signals):
    cfg, store, _ = signals
    art = build(cfg, store, "curriculum")
    table, config = read_curriculum(art.path / FILE)
    assert config["mode"] == "saerl" and config["batch_size"] == 8
    batch, pos = table["batch"].to_numpy(), table["position"].to_numpy()
    assert (np.diff(batch) >= 0).all()
    assert all((pos[batch == b] == np.arange((batch == b).sum())).all() for b in set(batch.tolist()))
    dropped = json.loads((art.path / "dropped.json").read_text())
    assert len(dropped) == int(0.1 * 240)
    # 60 steps x 8 = 480 > 216 kept prompts: the 27 full batches are replayed in 3 passes
    passes = table["pass"].to_numpy()
    assert table.num_rows == 3 * 216 and passes.max() == 2
    assert sorted(table["id"].to_numpy()[passes == 0].tolist()) == sorted(set(table["id"].to_pylist()))
    assert art.manifest["info"]["unique_prompts"] == 216 and art.manifest["info"]["pool_fraction"] == 0.9
    stats = json.loads((art.path / "batches.json").read_text())
    assert len(stats) == art.manifest["info"]["batches"]


def test_same_inputs_write_the_identical_file(signals, tmp_path):
    from saerl.curriculum.order import build_curriculum
    from saerl.curriculum.stage import signals_for

    cfg, store, art = signals
    records = load_split(build(cfg, store, "data"), "train")
    sig = signals_for(cfg.curriculum, records, art)
    for name in ("a", "b"):
        write_curriculum(tmp_path / name, build_curriculum(sig, cfg.curriculum), sig, records, {"seed": 0})
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()


def test_vanilla_needs_no_model_signals(tiny, tmp_path):
    from saerl.store import ArtifactStore

    overrides, _ = tiny
    store = ArtifactStore(tmp_path / "fresh")
    cfg = load_experiment(overrides=[*overrides, "curriculum.mode=vanilla"])
    art = build(cfg, store, "curriculum")
    info = art.manifest["info"]
    assert info["dropped"] == 0 and info["rows"] == 60 * 8 and info["unique_prompts"] == 240
    assert sorted(p.name for p in store.root.iterdir() if not p.name.startswith(".")) == [
        "curriculum",
        "data",
    ]


def test_rollout_curriculum_uses_labels_for_every_prompt(signals):
    _, store, _ = signals
    overrides = ["signals.difficulty.label_all=true", "curriculum.mode=rollout"]
    cfg2 = load_experiment(overrides=[*TINY_OVERRIDES, *overrides])
    art = build(cfg2, store, "curriculum")
    rows = read_signals(build(cfg2, store, "signals"))
    assert all(r["rollout_difficulty"] is not None for r in rows)
    assert art.manifest["info"]["mode"] == "rollout"


def test_real_data_path_with_a_model_folder_and_synthesised_negatives(tiny, tmp_path):
    """A generic local file + an HF model folder as S: no noise ground truth, no rollouts."""
    overrides, store = tiny
    base = load_experiment(overrides=overrides)
    model_dir = build(base, store, "source").path
    rows = [
        {"q": f"Sam has {a} marbles and finds {b} more. How many now?", "a": str(a + b), "hard": float(a + b)}
        for a in range(1, 16)
        for b in range(1, 9)
    ]
    src = tmp_path / "mywords.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = load_experiment(
        overrides=[
            *overrides,
            f"data.source={src}",
            "data.mapping=generic",
            "data.fields={prompt: q, answer: a, difficulty: hard}",
            f"activations.source_model={model_dir}",
            "activations.sae_splits=[train]",
            "features.splits=[train]",
            "signals.difficulty.labels=dataset",
            "signals.difficulty.ood_split=''",
            "signals.quality.n_labelled=60",
        ]
    )
    art = build(cfg, store, "signals")
    m = json.loads((art.path / "metrics.json").read_text())
    assert m["quality"]["n_labelled"] == 60 + 18  # 60 clean + 30% synthesised corruptions
    assert 0.0 <= m["quality"]["sae"]["auc"] <= 1.0
    assert m["difficulty"]["n_labelled"] == 60  # a seeded subset of n_labelled rows, as with rollouts
    assert m["topic_probe"] is None  # no topics in this source
    assert len(read_signals(art)) == len(rows)


def test_study_signals_writes_the_preliminary_study_and_its_figures(signals, tmp_path, capsys):
    from saerl.cli import main

    _, store, _ = signals
    rc = main(["study-signals", *TINY_OVERRIDES, f"store_dir={store.root}", f"reports_dir={tmp_path}"])
    assert rc == 0
    study = json.loads((tmp_path / "signals" / "study.json").read_text())
    assert (
        study["cost"]["sae_route_total_wall_s"] > 0 and "rollout_labels_subset" in study["cost"]["sae_route"]
    )
    pngs = {p.stem for p in (tmp_path / "signals").glob("*.png")}
    assert {"difficulty_scatter", "quality_roc", "topic_probe"} <= pngs
    assert "written:" in capsys.readouterr().out


def test_coverage_curriculum_through_the_store(signals):
    _, store, _ = signals
    cfg2 = load_experiment(overrides=[*TINY_OVERRIDES, "curriculum.mode=coverage"])
    node = StageGraph(cfg2).curriculum
    assert {"signals", "features", "data"} <= set(node.inputs)
    art = build(cfg2, store, "curriculum")
    table, config = read_curriculum(art.path / FILE)
    assert config["mode"] == "coverage" and config["coverage_weights"] == "labels"
    info = art.manifest["info"]
    # 60 steps x 8 = 480 > 240: the whole pool is selected (no quality filter), replayed in 2 passes
    assert info["dropped"] == 0 and info["unique_prompts"] == 240 and table.num_rows == 480
    covered = json.loads((art.path / "interpret.json").read_text())["coverage"]
    assert sum(c["selected"] for c in covered) == 240 == sum(c["size"] for c in covered)
    # a fifth of the pool: 48 prompts, every cluster's share and learnability reported
    cfg3 = load_experiment(
        overrides=[*TINY_OVERRIDES, "curriculum.mode=coverage", "curriculum.coverage_fraction=0.2"]
    )
    art = build(cfg3, store, "curriculum")
    assert art.manifest["info"]["unique_prompts"] == 48
    covered = json.loads((art.path / "interpret.json").read_text())["coverage"]
    assert sum(c["selected"] for c in covered) == 48
    assert all(0 <= c["selected_share"] <= 1 for c in covered)
    assert all(c["selected_learnability"] is None or 0 <= c["selected_learnability"] <= 1 for c in covered)
