"""`saerl study-signals`: the preliminary study's numbers, cost table and figures in one folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from saerl.store import Artifact


def _cost(art: Artifact) -> dict[str, float]:
    m = art.manifest
    return {"wall_s": m["wall_seconds"], "accelerator_s": m["accelerator_seconds"]}


def study_signals(arts: dict[str, Artifact], out: Path) -> dict[str, Any]:
    """``arts``: the built artifacts by role: data, activations, sae, features, signals, and the
    rollout labels (labels_train: the subset the SAE route needs; labels_all: every prompt)."""
    import numpy as np

    from analysis.figures import preliminary
    from saerl.data.stage import load_split
    from saerl.sae.features import load_features
    from saerl.signals.stage import read_signals

    sig = arts["signals"]
    metrics = json.loads((sig.path / "metrics.json").read_text())
    sae_route = {
        "activations": _cost(arts["activations"]),
        "sae_training": _cost(arts["sae"]),
        "features": _cost(arts["features"]),
        "probes_and_clusters": _cost(sig),
    }
    if "labels_train" in arts:
        sae_route["rollout_labels_subset"] = _cost(arts["labels_train"])
    cost: dict[str, Any] = {
        "sae_route": sae_route,
        "sae_route_total_wall_s": sum(c["wall_s"] for c in sae_route.values()),
    }
    if "labels_all" in arts:
        full = arts["labels_all"]
        cost["rollout_all"] = _cost(full)
        cost["rollout_all_over_sae_route"] = full.manifest["wall_seconds"] / cost["sae_route_total_wall_s"]
    study = {k: v for k, v in metrics.items() if k != "plot"} | {"cost": cost}
    out.mkdir(parents=True, exist_ok=True)
    (out / "study.json").write_text(json.dumps(study, indent=2))

    rows = read_signals(sig)
    feats = load_features(arts["features"].path, "train")
    records = load_split(arts["data"], "train")
    figures: list[Path] = []
    if metrics.get("topic_probe"):
        figures += preliminary.topic_probe(metrics, out)
    figures += preliminary.difficulty_scatter(metrics, out)
    if metrics["plot"]["quality"]:
        figures += preliminary.quality_roc(metrics, out)
    figures += preliminary.projection(
        feats.z, np.array([r["cluster"] for r in rows]), [r.topic for r in records], out
    )
    study["figures"] = [str(p) for p in figures]
    return study
