"""`saerl study-signals`: the preliminary study's numbers, cost table and figures in one folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from saerl.config import SaerlConfig
from saerl.store import Artifact, ArtifactStore


def _cost(art: Artifact) -> dict[str, float]:
    m = art.manifest
    return {"wall_s": m["wall_seconds"], "accelerator_s": m["accelerator_seconds"]}


def study_signals(cfg: SaerlConfig, store: ArtifactStore, out: Path) -> dict[str, Any]:
    from analysis.figures import preliminary
    from saerl.data.stage import data_stage, load_split
    from saerl.sae.features import load_features
    from saerl.sae.stage import activations_stage, features_stage, sae_stage
    from saerl.signals.stage import labels_stage, read_signals, signals_stage

    sig = signals_stage(cfg, store)
    metrics = json.loads((sig.path / "metrics.json").read_text())
    d = cfg.signals.difficulty
    sae_route = {
        "activations": _cost(activations_stage(cfg, store)),
        "sae_training": _cost(sae_stage(cfg, store)),
        "features": _cost(features_stage(cfg, store)),
        "probes_and_clusters": _cost(sig),
    }
    if d.labels == "rollouts":
        sae_route["rollout_labels_subset"] = _cost(labels_stage(cfg, store, "train", d.n_labelled))
    cost: dict[str, Any] = {
        "sae_route": sae_route,
        "sae_route_total_wall_s": sum(c["wall_s"] for c in sae_route.values()),
    }
    if d.label_all:
        full = labels_stage(cfg, store, "train", None)
        cost["rollout_all"] = _cost(full)
        cost["rollout_all_over_sae_route"] = full.manifest["wall_seconds"] / cost["sae_route_total_wall_s"]
    study = {k: v for k, v in metrics.items() if k != "plot"} | {"cost": cost}
    out.mkdir(parents=True, exist_ok=True)
    (out / "study.json").write_text(json.dumps(study, indent=2))

    rows = read_signals(sig)
    feats = load_features(features_stage(cfg, store).path, "train")
    records = load_split(data_stage(cfg, store), "train")
    figures: list[Path] = []
    if metrics.get("topic_probe"):
        figures += preliminary.topic_probe(metrics, out)
    figures += preliminary.difficulty_scatter(metrics, out)
    if metrics["plot"]["quality"]:
        figures += preliminary.quality_roc(metrics, out)
    import numpy as np

    figures += preliminary.projection(
        feats.z, np.array([r["cluster"] for r in rows]), [r.topic for r in records], out
    )
    study["figures"] = [str(p) for p in figures]
    return study
