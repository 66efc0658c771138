"""What the SAE signals mean, in words a reader can check: written by the curriculum stage next to
the curriculum it explains (``interpret.json``), shown in the report.

- Clusters (of the prompts the quality filter kept): size, topic mix, mean predicted difficulty,
  the latents that define the cluster (largest mean activation in the cluster over the mean
  elsewhere) and the prompts nearest its centroid.
- The difficulty proxy: its strongest positive (harder) and negative (easier) latents with the
  prompts that activate each most, and those prompts' mean predicted difficulty.
- The quality filter: what it dropped and kept, per noise kind (where the data has ground truth).
- Coverage selection (mode 'coverage'): per cluster, how much of it the selection took, and the
  learnability of what it took against what it left.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from saerl.data.records import Record

FILE = "interpret.json"


def _shares(values: Sequence[str], top: int = 3) -> list[list[Any]]:
    counts = Counter(values)
    return [[k, round(n / len(values), 3)] for k, n in counts.most_common(top)]


def _column(z: Any, j: int) -> np.ndarray:
    return np.asarray(z[:, j].toarray()).ravel() if hasattr(z, "tocsc") else np.asarray(z[:, j]).ravel()


def clusters(
    records: Sequence[Record], z: Any, cluster_of: np.ndarray, difficulty: np.ndarray, top: int = 3
) -> list[dict[str, Any]]:
    """One entry per cluster (prompts with cluster -1, dropped, are left out), largest first."""
    z = z.tocsr() if hasattr(z, "tocsr") else np.asarray(z)
    out = []
    for c in sorted(set(cluster_of.tolist()) - {-1}):
        inside = np.flatnonzero(cluster_of == c)
        outside = np.flatnonzero((cluster_of != c) & (cluster_of != -1))
        mean_in = np.asarray(z[inside].mean(axis=0)).ravel()
        mean_out = np.asarray(z[outside].mean(axis=0)).ravel() if len(outside) else np.zeros_like(mean_in)
        lift = mean_in - mean_out
        latents = [[int(j), round(float(lift[j]), 4)] for j in np.argsort(lift)[::-1][:top] if lift[j] > 0]
        sub = z[inside]  # squared distance to the centroid without densifying the rows
        sq = (
            np.asarray(sub.multiply(sub).sum(axis=1)).ravel() if hasattr(sub, "multiply") else (sub**2).sum(1)
        )
        dist = sq - 2 * np.asarray(sub @ mean_in).ravel() + float(mean_in @ mean_in)
        nearest = inside[np.argsort(dist)[:top]]
        out.append(
            {
                "cluster": int(c),
                "size": len(inside),
                "topics": _shares([records[int(i)].topic or "-" for i in inside]),
                "mean_difficulty": round(float(difficulty[inside].mean()), 4),
                "defining_latents": latents,
                "central_prompts": [records[i].prompt for i in nearest],
            }
        )
    return sorted(out, key=lambda e: -e["size"])


def difficulty_latents(
    records: Sequence[Record],
    z: Any,
    weights: dict[str, list[list[float]]],
    difficulty: np.ndarray,
    top: int = 3,
) -> dict[str, list[dict[str, Any]]]:
    """For each of the proxy's strongest latents: its weight, the prompts that activate it most and
    how often it fires."""
    z = z.tocsc() if hasattr(z, "tocsc") else np.asarray(z)
    out: dict[str, list[dict[str, Any]]] = {}
    for sign in ("positive", "negative"):
        entries = []
        for latent, weight in weights.get(sign, []):
            col = _column(z, int(latent))
            best = np.argsort(col)[::-1][:top]
            best = best[col[best] > 0]
            entries.append(
                {
                    "latent": int(latent),
                    "weight": weight,
                    "fires_on": round(float((col > 0).mean()), 4),
                    "top_prompts": [records[i].prompt for i in best],
                    "top_mean_difficulty": round(float(difficulty[best].mean()), 4) if len(best) else None,
                }
            )
        out[sign] = entries
    return out


def quality_drops(records: Sequence[Record], dropped: np.ndarray) -> dict[str, dict[str, int]] | None:
    """Per noise kind: prompts dropped and kept by the filter (None: no noise ground truth)."""
    if not records or "noise" not in records[0].meta:
        return None
    gone = set(dropped.tolist())
    out: dict[str, dict[str, int]] = {}
    for i, r in enumerate(records):
        entry = out.setdefault(str(r.meta["noise"]), {"dropped": 0, "kept": 0})
        entry["dropped" if i in gone else "kept"] += 1
    return dict(sorted(out.items()))


def coverage(
    records: Sequence[Record], cluster_of: np.ndarray, order: np.ndarray, learnability: np.ndarray
) -> list[dict[str, Any]]:
    """Per cluster of the pool (largest first): size, prompts selected, their share, the mean
    learnability of the selected and of the left-out prompts, and the topic mix of the selection."""
    chosen = np.zeros(len(cluster_of), dtype=bool)
    chosen[np.unique(order)] = True
    out = []
    for c in sorted(set(cluster_of.tolist()) - {-1}):
        inside = cluster_of == c
        sel, rest = np.flatnonzero(inside & chosen), np.flatnonzero(inside & ~chosen)
        out.append(
            {
                "cluster": int(c),
                "size": int(inside.sum()),
                "selected": len(sel),
                "selected_share": round(len(sel) / int(inside.sum()), 4),
                "selected_learnability": round(float(learnability[sel].mean()), 4) if len(sel) else None,
                "left_learnability": round(float(learnability[rest].mean()), 4) if len(rest) else None,
                "selected_topics": _shares([records[int(i)].topic or "-" for i in sel]) if len(sel) else [],
            }
        )
    return sorted(out, key=lambda e: -e["size"])


def interpret(
    records: Sequence[Record],
    z: Any,
    cluster_of: np.ndarray,
    difficulty: np.ndarray,
    dropped: np.ndarray,
    weights: dict[str, list[list[float]]] | None,
) -> dict[str, Any]:
    return {
        "clusters": clusters(records, z, cluster_of, difficulty),
        "difficulty_latents": difficulty_latents(records, z, weights, difficulty) if weights else None,
        "quality_filter": quality_drops(records, dropped),
    }
