"""The preliminary study (docs/method.md sections 2-4): do SAE features carry topic, difficulty and
quality? Four figures from the signals stage's metrics.json and the features' z."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from analysis.style import PALETTE, pyplot, save


def topic_probe(metrics: dict[str, Any], out: Path) -> list[Path]:
    plt = pyplot()
    tp = metrics["topic_probe"]
    fig, ax = plt.subplots(figsize=(3.2, 2.8))
    ax.bar(
        ["majority\nbaseline", "linear probe\non z"],
        [tp["majority_baseline"], tp["accuracy"]],
        color=[PALETTE[7], PALETTE[0]],
    )
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"held-out accuracy ({tp['n_topics']} topics, n={tp['n_test']})")
    ax.set_title("Topic from SAE features")
    return save(fig, out, "topic_probe")


def difficulty_scatter(metrics: dict[str, Any], out: Path) -> list[Path]:
    plt = pyplot()
    plot, d = metrics["plot"]["difficulty"], metrics["difficulty"]
    panels = [("in distribution", "id_true", "id_pred", d["in_distribution"].get("sae"))]
    if "ood_pred" in plot:
        panels.append(("out of distribution", "ood_true", "ood_pred", d["out_of_distribution"].get("sae")))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels), 3.0), squeeze=False)
    for ax, (title, t, p, corr) in zip(axes[0], panels, strict=True):
        true = np.asarray(plot[t])
        # Labels are pass-rate fractions (few distinct values): a small horizontal jitter keeps the
        # points apart; the axis label says so.
        jitter = np.random.default_rng(0).uniform(-0.02, 0.02, len(true))
        ax.scatter(
            true + jitter,
            plot[p],
            s=8,
            alpha=0.5,
            color=PALETTE[0],
            label=f"held-out prompts (n={len(true)})",
        )
        ax.set_xlabel("1 - rollout pass rate (jitter ±0.02)", fontsize=8)
        ax.set_ylabel("ElasticNet prediction from z")
        if np.std(true) == 0:  # e.g. the source model fails every OOD item: nothing to correlate with
            ax.set_title(f"{title}: every label = {true[0]:.2f}, r undefined", fontsize=8)
        else:
            ax.set_title(f"{title}: r={corr['pearson']:.2f}, rho={corr['spearman']:.2f}", fontsize=8)
        ax.legend(fontsize=7, loc="upper left")
    return save(fig, out, "difficulty_scatter")


def quality_roc(metrics: dict[str, Any], out: Path) -> list[Path]:
    plt = pyplot()
    plot, q = metrics["plot"]["quality"], metrics["quality"]
    fig, ax = plt.subplots(figsize=(3.4, 3.2))
    for i, name in enumerate(("sae", "metadata")):
        if f"roc_{name}" in plot:
            fpr, tpr = plot[f"roc_{name}"]
            ax.plot(fpr, tpr, color=PALETTE[i], label=f"{name} probe (AUC {q[name]['auc']:.2f})")
    ax.plot([0, 1], [0, 1], ls=":", color=PALETTE[7])
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate (clean)")
    ax.set_title("Quality probe")
    ax.legend(loc="lower right", fontsize=7)
    return save(fig, out, "quality_roc")


def projection(z: Any, clusters: np.ndarray, topics: list[str], out: Path) -> list[Path]:
    from sklearn.decomposition import TruncatedSVD
    from sklearn.preprocessing import normalize

    plt = pyplot()
    xy = TruncatedSVD(n_components=2, random_state=0).fit_transform(normalize(z))
    fig, axes = plt.subplots(1, 2, figsize=(7.0, 3.2))
    names = sorted(set(topics))
    for ax, (title, labels, legend) in zip(
        axes, [("cluster", clusters, None), ("topic", topics, names)], strict=True
    ):
        keys = sorted(set(np.asarray(labels).tolist()))
        for j, key in enumerate(keys):
            m = np.asarray(labels) == key
            ax.scatter(xy[m, 0], xy[m, 1], s=4, alpha=0.6, color=PALETTE[j % len(PALETTE)], label=str(key))
        ax.set_title(f"z (2-D SVD) by {title}")
        ax.set_xticks([])
        ax.set_yticks([])
        if legend:
            ax.legend(fontsize=6, markerscale=2, loc="best")
    return save(fig, out, "projection")
