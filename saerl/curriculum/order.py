"""The ordered batch stream: a pure function from per-prompt signals to batches (METHOD.md section 2).

    filter (quality) -> cluster-first chunks, easy-to-hard within each cluster -> chunks of B
    -> round-robin across clusters, paced by cluster size so all clusters end together
    -> moderate mixing between adjacent batches (rho)

Two details are OUR CHOICE and documented here:
- Remainder: a cluster whose size is not a multiple of B leaves < B of its hardest items over. These
  leftovers are pooled, sorted easy-to-hard and appended as the final batches (so every batch has
  exactly B items except the very last one, and these remainder batches are the only ones that mix
  clusters when rho = 0). They are marked `remainder` in the output.
- Mixing: with m = floor(rho * B), batch t hands its last m items (its hardest) to batch t+1 and
  receives batch t+1's first m items (its easiest). Every adjacent pair thus exchanges exactly m items
  and no item moves more than one batch, which a sequential tail-swap would not guarantee. rho <= 0.5;
  rho = 0.5 replaces every item of an inner batch. The partial last batch takes no part in mixing.

Each ablation of METHOD.md section 5 is a `mode` that changes exactly one component.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from saerl.curriculum.config import CurriculumConfig


@dataclass(frozen=True)
class Signals:
    """Per-prompt inputs of the curriculum (aligned arrays)."""

    ids: Sequence[str]
    cluster: np.ndarray  # int
    difficulty: np.ndarray  # predicted, higher = harder
    quality: np.ndarray  # higher = cleaner
    length: np.ndarray | None = None  # prompt length, for mode='length'
    rollout_difficulty: np.ndarray | None = None  # 1 - pass rate, for mode='rollout'

    def __post_init__(self) -> None:
        n = len(self.ids)
        for name in ("cluster", "difficulty", "quality", "length", "rollout_difficulty"):
            arr = getattr(self, name)
            if arr is not None and len(arr) != n:
                raise ValueError(f"signals: {name} has {len(arr)} rows, ids has {n}")
        if len(set(self.ids)) != n:
            raise ValueError("signals: ids are not unique")


@dataclass(frozen=True)
class Curriculum:
    """The ordered stream: row i of every array is the i-th prompt the trainer sees."""

    order: np.ndarray  # indices into Signals
    batch: np.ndarray  # batch index of each row
    position: np.ndarray  # position within the batch
    remainder: np.ndarray  # bool: row belongs to a remainder batch (see module docstring)
    dropped: np.ndarray  # indices removed by the quality filter

    @property
    def n_batches(self) -> int:
        return int(self.batch.max()) + 1 if len(self.batch) else 0


def quality_filter(quality: np.ndarray, cfg: CurriculumConfig) -> np.ndarray:
    """Boolean keep-mask: below the threshold, or else the lowest fraction q, is dropped."""
    if cfg.quality_threshold is not None:
        return quality >= cfg.quality_threshold
    n_drop = int(np.floor(cfg.quality_fraction * len(quality)))
    keep = np.ones(len(quality), dtype=bool)
    keep[np.argsort(quality, kind="stable")[:n_drop]] = False
    return keep


def _difficulty_for(signals: Signals, mode: str) -> np.ndarray:
    if mode == "length":
        if signals.length is None:
            raise ValueError("mode 'length' needs prompt lengths in the signals")
        return signals.length.astype(float)
    if mode == "rollout":
        if signals.rollout_difficulty is None or np.isnan(signals.rollout_difficulty).any():
            raise ValueError("mode 'rollout' needs a rollout difficulty label for every prompt")
        return signals.rollout_difficulty
    return signals.difficulty


def _chunks(items: np.ndarray, size: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Full chunks of `size`, and the leftover (< size) items."""
    n_full = len(items) // size
    return [items[i * size : (i + 1) * size] for i in range(n_full)], items[n_full * size :]


def _interleave(per_cluster: list[list[np.ndarray]]) -> list[np.ndarray]:
    """Round-robin paced by size: chunk j of a cluster with m chunks sits at time (j + 0.5) / m."""
    timed = [
        ((j + 0.5) / len(chunks), c, j) for c, chunks in enumerate(per_cluster) for j in range(len(chunks))
    ]
    return [per_cluster[c][j] for _, c, j in sorted(timed)]


def _mix(batches: list[np.ndarray], m: int) -> list[np.ndarray]:
    """Batch t sends its last m items to t+1 and receives t+1's first m (see module docstring)."""
    if m == 0 or len(batches) < 2:
        return batches
    out = []
    for t, b in enumerate(batches):
        head = batches[t - 1][-m:] if t > 0 else b[:m]  # t-1's tail replaces our head
        tail = batches[t + 1][:m] if t + 1 < len(batches) else b[-m:]  # t+1's head replaces our tail
        out.append(np.concatenate([head, b[m : len(b) - m], tail]))
    return out


def build_curriculum(signals: Signals, cfg: CurriculumConfig) -> Curriculum:
    n = len(signals.ids)
    B = cfg.batch_size
    rng = np.random.default_rng(cfg.seed)
    if cfg.mode == "vanilla":
        batches, leftover = _chunks(rng.permutation(n), B)
        rest = [leftover] if len(leftover) else []
        return _assemble(batches, rest, np.array([], dtype=int), full_count=len(batches))

    keep = np.ones(n, dtype=bool) if cfg.mode == "no_quality_filter" else quality_filter(signals.quality, cfg)
    kept = np.flatnonzero(keep)
    difficulty = _difficulty_for(signals, cfg.mode)
    rho = 0.0 if cfg.mode == "no_mixing" else cfg.rho

    def easy_to_hard(idx: np.ndarray) -> np.ndarray:
        if cfg.mode == "no_curriculum":
            return rng.permutation(idx)
        return idx[np.argsort(difficulty[idx], kind="stable")]

    if cfg.mode == "no_cluster":
        batches, leftover = _chunks(easy_to_hard(kept), B)
        leftovers = [leftover]
    else:
        per_cluster, leftovers = [], []
        for c in np.unique(signals.cluster[kept]):
            chunks, leftover = _chunks(easy_to_hard(kept[signals.cluster[kept] == c]), B)
            if chunks:
                per_cluster.append(chunks)
            leftovers.append(leftover)
        batches = _interleave(per_cluster)
    pool = np.concatenate(leftovers) if leftovers else np.array([], dtype=int)
    pool = pool[np.argsort(difficulty[pool], kind="stable")]
    extra, last = _chunks(pool, B)
    full = _mix(batches + extra, int(np.floor(rho * B)))
    tail = [last] if len(last) else []
    return _assemble(full, tail, np.flatnonzero(~keep), full_count=len(batches))


def _assemble(
    full: list[np.ndarray], tail: list[np.ndarray], dropped: np.ndarray, full_count: int
) -> Curriculum:
    """Flatten batches into the row arrays; batches at index >= full_count are remainder batches."""
    all_batches = full + tail
    if not all_batches:
        raise ValueError("curriculum: no prompts left to order")
    order = np.concatenate(all_batches).astype(int)
    batch = np.concatenate([np.full(len(b), t) for t, b in enumerate(all_batches)])
    position = np.concatenate([np.arange(len(b)) for b in all_batches])
    remainder = batch >= full_count
    return Curriculum(order, batch, position, remainder, np.sort(dropped))
