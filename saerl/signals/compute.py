"""From features and labels to the three signals and the preliminary-study metrics.

Every read-out uses the same seeded train/test split as its baselines, so the numbers compare like
with like: the SAE proxy (ElasticNetCV on z), prompt length, dataset metadata, and the raw pooled
activations (ElasticNetCV on the non-SAE residual stream).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, NamedTuple

import numpy as np

from saerl.data.records import Record
from saerl.sae.features import PromptFeatures
from saerl.signals.config import DifficultyConfig, QualityConfig, SignalsConfig
from saerl.signals.diversity import cluster, topic_probe
from saerl.signals.probes import (
    correlation,
    dense_if_small,
    fit_elasticnet,
    fit_linear,
    fit_quality_probe,
    quality_scores,
    score_probe,
    text_stats,
)


class SignalsResult(NamedTuple):
    rows: list[dict[str, Any]]
    metrics: dict[str, Any]


def _split(n: int, test_fraction: float, seed: int, stratify: np.ndarray | None = None) -> tuple[Any, Any]:
    from sklearn.model_selection import train_test_split

    idx = np.arange(n)
    strat = stratify if stratify is not None and len(set(stratify.tolist())) > 1 else None
    tr, te = train_test_split(idx, test_size=test_fraction, random_state=seed, stratify=strat)
    return np.sort(tr), np.sort(te)


def _aligned(feats: PromptFeatures, records: list[Record], split: str) -> PromptFeatures:
    """The features, densified when small, after checking they belong to ``records``."""
    if feats.ids != [r.id for r in records]:
        raise ValueError(f"features of split {split!r} are not aligned with its records; rebuild features")
    return feats._replace(z=dense_if_small(feats.z))


def _meta_difficulty(records: list[Record]) -> np.ndarray | None:
    values = [r.meta.get("difficulty") for r in records]
    if any(v is None for v in values):
        return None
    return np.asarray(values, dtype=float)


def difficulty_signal(
    dcfg: DifficultyConfig,
    train: list[Record],
    feats: PromptFeatures,
    labels: dict[str, dict[str, float]],
    ood: tuple[list[Record], PromptFeatures] | None,
) -> tuple[np.ndarray, dict[str, Any], dict[str, Any]]:
    """(predicted difficulty for every train prompt, metrics, plot data)."""
    ids = [r.id for r in train]
    if dcfg.labels == "rollouts":
        y_of = labels["train"]
    else:
        meta = _meta_difficulty(train)
        if meta is None:
            raise ValueError("signals.difficulty.labels=dataset but some records have no meta['difficulty']")
        y_of = dict(zip(ids, meta.tolist(), strict=True))
    lab = np.array([i for i, rid in enumerate(ids) if rid in y_of])
    if dcfg.labels == "dataset" and len(lab) > dcfg.n_labelled:
        lab = np.sort(np.random.default_rng(dcfg.seed).choice(lab, dcfg.n_labelled, replace=False))
    if len(lab) < 10:
        raise ValueError(f"difficulty: only {len(lab)} labelled prompts; need at least 10")
    y = np.array([y_of[ids[i]] for i in lab])
    tr, te = _split(len(lab), dcfg.test_fraction, dcfg.seed)
    length = np.array([[len(r.prompt)] for r in train], dtype=float)
    meta_d = _meta_difficulty(train)

    predictors: dict[str, tuple[Any, Any]] = {  # name -> (train-matrix, fitted model)
        "sae": (feats.z, fit_elasticnet(feats.z[lab[tr]], y[tr], dcfg.l1_ratios, dcfg.cv_folds, dcfg.seed)),
        "raw": (
            feats.raw,
            fit_elasticnet(feats.raw[lab[tr]], y[tr], dcfg.l1_ratios, dcfg.cv_folds, dcfg.seed),
        ),
        "length": (length, fit_linear(length[lab[tr]], y[tr])),
    }
    if meta_d is not None:
        predictors["metadata"] = (meta_d[:, None], fit_linear(meta_d[lab[tr]][:, None], y[tr]))
    metrics: dict[str, Any] = {
        "n_labelled": len(lab),
        "n_test": len(te),
        "label_mean": float(y.mean()),
        "in_distribution": {},
        "out_of_distribution": {},
    }
    plot: dict[str, Any] = {"id_true": y[te].tolist()}
    for name, (x, model) in predictors.items():
        pred = model.predict(x[lab[te]])
        metrics["in_distribution"][name] = correlation(pred, y[te])._asdict()
        if name == "sae":
            plot["id_pred"] = pred.tolist()
    if ood is not None and "ood" in labels:
        o_recs, o_feats = ood
        o_ids = [r.id for r in o_recs]
        o_idx = np.array([i for i, rid in enumerate(o_ids) if rid in labels["ood"]])
        y_ood = np.array([labels["ood"][o_ids[i]] for i in o_idx])
        o_x = {
            "sae": o_feats.z,
            "raw": o_feats.raw,
            "length": np.array([[len(r.prompt)] for r in o_recs], dtype=float),
        }
        o_meta = _meta_difficulty(o_recs)
        if o_meta is not None:
            o_x["metadata"] = o_meta[:, None]
        for name, (_, model) in predictors.items():
            if name in o_x:
                pred = model.predict(o_x[name][o_idx])
                metrics["out_of_distribution"][name] = correlation(pred, y_ood)._asdict()
                if name == "sae":
                    plot["ood_pred"], plot["ood_true"] = pred.tolist(), y_ood.tolist()
        metrics["ood_label_mean"] = float(y_ood.mean())
    metrics["latent_weights"] = latent_weights(predictors["sae"][1])
    return predictors["sae"][1].predict(feats.z), metrics, plot


def latent_weights(model: Any, top: int = 10) -> dict[str, list[list[float]]]:
    """The difficulty proxy's strongest latents in the features' own units (the ElasticNet's
    coefficient over the scaler's scale): ``positive`` (harder when active) and ``negative``
    (easier), each as [latent, weight] pairs, strongest first; zero weights are left out."""
    scaler, enet = model[0], model[-1]
    w = np.asarray(enet.coef_, dtype=float) / np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    order = np.argsort(w)
    pos = [[int(i), float(w[i])] for i in order[::-1][:top] if w[i] > 0]
    neg = [[int(i), float(w[i])] for i in order[:top] if w[i] < 0]
    return {"positive": pos, "negative": neg}


def quality_signal(
    qcfg: QualityConfig,
    train: list[Record],
    feats: PromptFeatures,
    negatives: tuple[Any, list[str]] | None = None,
) -> tuple[np.ndarray, dict[str, Any], dict[str, Any]]:
    """(quality score for every train prompt, metrics, plot data).

    Labels: the kept noise ground truth where the records have it (the miniature); otherwise
    ``negatives`` = (features, prompts) of synthesised corruptions of clean records.
    """
    from sklearn.metrics import roc_curve

    rng = np.random.default_rng(qcfg.seed)
    n_lab = min(qcfg.n_labelled, len(train))
    lab = np.sort(rng.choice(len(train), n_lab, replace=False))
    prompts = [r.prompt for r in train]
    if "noise" in train[0].meta:
        x_sae, x_meta = feats.z[lab], text_stats([prompts[i] for i in lab])
        clean = np.array([train[i].meta.get("noise", "none") == "none" for i in lab])
    elif negatives is not None:
        import scipy.sparse as sp

        neg_z, neg_prompts = negatives
        x_sae = dense_if_small(sp.vstack([sp.csr_matrix(feats.z[lab]), sp.csr_matrix(neg_z)]).tocsr())
        x_meta = text_stats([prompts[i] for i in lab] + neg_prompts)
        clean = np.array([True] * len(lab) + [False] * len(neg_prompts))
    else:
        raise ValueError("quality: records carry no noise labels and no synthesised negatives were given")
    tr, te = _split(len(clean), qcfg.test_fraction, qcfg.seed, stratify=clean)
    probe = fit_quality_probe(x_sae[tr], clean[tr], qcfg.probe, qcfg.seed)
    meta_probe = fit_quality_probe(x_meta[tr], clean[tr], qcfg.probe, qcfg.seed)
    s_sae, s_meta = quality_scores(probe, x_sae[te]), quality_scores(meta_probe, x_meta[te])
    metrics: dict[str, Any] = {
        "n_labelled": len(clean),
        "n_test": len(te),
        "clean_fraction": float(clean.mean()),
        "sae": score_probe(s_sae, clean[te])._asdict(),
        "metadata": score_probe(s_meta, clean[te])._asdict(),
    }
    plot: dict[str, Any] = {}
    if len(set(clean[te].tolist())) == 2:
        for name, s in (("sae", s_sae), ("metadata", s_meta)):
            fpr, tpr, _ = roc_curve(clean[te], s)
            plot[f"roc_{name}"] = [fpr.tolist(), tpr.tolist()]
    scores = quality_scores(probe, feats.z)
    kinds = [r.meta.get("noise") for r in train]
    if all(k is not None for k in kinds):
        bottom = set(np.argsort(scores)[: int(0.1 * len(scores))].tolist())
        metrics["by_noise_kind"] = {
            kind: {
                "n": n,
                "mean_quality": float(np.mean([s for s, k in zip(scores, kinds, strict=True) if k == kind])),
                "in_bottom_10pct": sum(1 for i in bottom if kinds[i] == kind) / n,
            }
            for kind, n in sorted(Counter(kinds).items())
        }
    return scores, metrics, plot


def compute_signals(
    scfg: SignalsConfig,
    train: list[Record],
    feats: PromptFeatures,
    labels: dict[str, dict[str, float]],
    ood: tuple[list[Record], PromptFeatures] | None = None,
    negatives: tuple[Any, list[str]] | None = None,
) -> SignalsResult:
    """Clusters, difficulty and quality for every ``train`` record, plus the study's metrics.
    ``labels``: rollout labels by role ('train', 'ood', 'all'); ``ood``: the OOD split's records and
    features for the out-of-distribution correlation."""
    feats = _aligned(feats, train, "train")
    if ood is not None:
        ood = (ood[0], _aligned(ood[1], ood[0], "ood"))
    clusters = cluster(feats.z, scfg.diversity)
    topic = topic_probe(feats.z, [r.topic for r in train], scfg.diversity)
    difficulty, d_metrics, d_plot = difficulty_signal(scfg.difficulty, train, feats, labels, ood)
    quality, q_metrics, q_plot = quality_signal(scfg.quality, train, feats, negatives)
    rollout = labels.get("all") or labels.get("train") or {}
    rows = [
        {
            "id": r.id,
            "topic": r.topic,
            "cluster": int(c),
            "difficulty": float(d),
            "quality": float(q),
            "length": len(r.prompt),
            "rollout_difficulty": rollout.get(r.id),
            "noise": r.meta.get("noise"),
            "meta_difficulty": r.meta.get("difficulty"),
        }
        for r, c, d, q in zip(train, clusters, difficulty, quality, strict=True)
    ]
    metrics = {
        "n_prompts": len(train),
        "clusters": {"k": scfg.diversity.n_clusters, "sizes": np.bincount(clusters).tolist()},
        "topic_probe": topic._asdict() if topic else None,
        "difficulty": d_metrics,
        "quality": q_metrics,
        "plot": {"difficulty": d_plot, "quality": q_plot},
    }
    return SignalsResult(rows, metrics)
