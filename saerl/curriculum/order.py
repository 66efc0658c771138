"""The ordered batch stream: a pure function from per-prompt signals to batches (docs/method.md section 2).

    filter (quality) -> cluster the kept prompts -> easy-to-hard within each cluster -> chunks of B
    -> round-robin across clusters, paced by cluster size so all clusters end together
    -> moderate mixing between adjacent batches (rho)

Clustering comes after the filter (the method's order): when a ``recluster`` function is given, the
kept prompts are clustered afresh and ``Signals.cluster`` is ignored; without one, the given
clusters are used as they are (tests, and callers that clustered the kept set themselves).

Three details are OUR CHOICE and documented here:
- Remainder: a run's budget (rl.steps x B) is shared out among the clusters in whole batches, so a
  fitted stream has no remainder and rho = 0 / no_mixing give single-cluster batches throughout.
  Ordering a whole pool (no budget), a cluster whose size is not a multiple of B leaves < B of its
  hardest items over; these leftovers are pooled, sorted easy-to-hard and appended as the final
  batches (marked `remainder`: the only ones that then mix clusters at rho = 0).
- Mixing: with m = floor(rho * B), the tail (last m items, the hardest) of every full batch moves to
  a nearby batch, and each batch receives exactly one tail: every mixed batch keeps exactly B - m
  of its own items and holds m foreign ones (own share 1 - m/B), and every item appears once. Tails
  are exchanged within pairs of nearby batches of different clusters (``mixing_partners``: the
  nearest later batch of another cluster within MIX_WINDOW; a swap inside one cluster would mix
  nothing); with an odd number of full batches the last one joins the last pair as a 3-cycle. A
  chain where every tail moves to the next batch cannot balance at the ends without wrapping the
  hardest items of the last batch into the first one. rho <= 0.5; the partial last batch takes no
  part in mixing.
- The mixed batch lists its own items first, then the foreign ones (order inside a batch does not
  change a step).

Each ablation of docs/method.md section 5 is a `mode` that changes exactly one component. Mode
'coverage' is a different method on the same inputs (``saerl.curriculum.coverage``): it selects a
budget of prompts by greedy log-determinant maximisation, then batches them shuffled or in the
order above.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from saerl.curriculum import coverage
from saerl.curriculum.budget import stratified
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
    clusters: np.ndarray  # per input prompt, the cluster it was ordered in (-1: dropped or vanilla)
    passes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    """Per row, 0 for the first pass over the stream, 1+ for repeats (see ``_fit``)."""

    def __post_init__(self) -> None:
        if len(self.passes) != len(self.order):
            object.__setattr__(self, "passes", np.zeros(len(self.order), dtype=int))

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


MIX_WINDOW = 4
"""How far (in batches) a tail may travel to find a batch of another cluster (OUR CHOICE: near
enough that the easy-to-hard order holds, far enough that the round-robin always offers one)."""


def mixing_partners(n: int, labels: Sequence[int] | None = None) -> list[int]:
    """partner[t]: the batch that receives batch t's tail. Without ``labels``: consecutive pairs,
    and a 3-cycle for odd n >= 3. With each batch's cluster: every batch pairs with the nearest
    later unpaired batch of another cluster within MIX_WINDOW (else the next unpaired one), so a
    swap never stays inside one cluster where another is in reach; an odd batch out joins the
    last pair as a 3-cycle."""
    if n < 2:
        return list(range(n))
    if labels is None:
        partner = [t + 1 if t % 2 == 0 else t - 1 for t in range(n)]
        if n % 2:
            partner[n - 3], partner[n - 2], partner[n - 1] = n - 2, n - 1, n - 3
        return partner
    partner = [-1] * n
    pairs: list[tuple[int, int]] = []
    for t in range(n):
        if partner[t] >= 0:
            continue
        near = [u for u in range(t + 1, min(n, t + 1 + MIX_WINDOW)) if partner[u] < 0]
        if not near:
            near = [u for u in range(t + 1, n) if partner[u] < 0][:1]
        if not near:  # the odd one out: a 3-cycle with the last pair
            a, b = pairs[-1]
            partner[a], partner[b], partner[t] = b, t, a
            break
        u = next((u for u in near if labels[u] != labels[t]), near[0])
        partner[t], partner[u] = u, t
        pairs.append((t, u))
    return partner


def _mix(batches: list[np.ndarray], m: int, labels: Sequence[int] | None = None) -> list[np.ndarray]:
    """Every batch sends its last m items to its partner and receives exactly one tail."""
    if m == 0 or len(batches) < 2:
        return batches
    partner = mixing_partners(len(batches), labels)
    received: list[np.ndarray] = [np.array([], dtype=int)] * len(batches)
    for t, b in enumerate(batches):
        received[partner[t]] = b[len(b) - m :]
    return [np.concatenate([b[: len(b) - m], received[t]]) for t, b in enumerate(batches)]


def build_curriculum(
    signals: Signals,
    cfg: CurriculumConfig,
    recluster: Callable[[np.ndarray], np.ndarray] | None = None,
    steps: int | None = None,
    features: Any = None,
) -> Curriculum:
    """The ordered stream. ``recluster(kept_indices) -> labels`` clusters the prompts that survive
    the quality filter (the method's order); None uses ``signals.cluster`` as given. ``steps``: the
    run's optimizer steps (one batch each): a smaller budget than the kept pool selects a stratified
    subset (``stratified``), a larger one is handled by ``cfg.overflow``; None orders the whole pool.
    ``features``: the pooled SAE features [prompts x latents], needed by mode 'coverage' only."""
    n = len(signals.ids)
    B = cfg.batch_size
    budget = steps * B if steps is not None else None
    rng = np.random.default_rng(cfg.seed)
    clusters = np.full(n, -1, dtype=int)
    if cfg.mode == "vanilla":  # a uniform random subset of the pool is the vanilla run's share
        return _fit(_shuffled(rng.permutation(n)[:budget], B, np.array([], dtype=int), clusters), steps, cfg)

    filtered = cfg.mode != "no_quality_filter" and (cfg.mode != "coverage" or cfg.coverage_filter)
    keep = quality_filter(signals.quality, cfg) if filtered else np.ones(n, dtype=bool)
    kept = np.flatnonzero(keep)
    if not len(kept):
        raise ValueError("curriculum: no prompts left to order")
    if cfg.mode == "no_cluster":
        clusters[kept] = 0
    elif recluster is not None:
        clusters[kept] = recluster(kept)
    else:
        clusters[kept] = signals.cluster[kept]
    dropped = np.flatnonzero(~keep)
    if cfg.mode == "coverage":
        selected = _coverage_selection(signals, cfg, features, kept, clusters, budget)
        if cfg.coverage_order == "shuffle":
            return _fit(_shuffled(rng.permutation(selected), B, dropped, clusters), steps, cfg)
        return _fit(_ordered(selected, clusters, signals.difficulty, cfg, rng, None, dropped), steps, cfg)
    return _fit(
        _ordered(kept, clusters, _difficulty_for(signals, cfg.mode), cfg, rng, budget, dropped), steps, cfg
    )


def _shuffled(items: np.ndarray, B: int, dropped: np.ndarray, clusters: np.ndarray) -> Curriculum:
    """Batches of B in the given (already shuffled) order; the < B leftover is a last partial batch."""
    batches, leftover = _chunks(items, B)
    rest = [leftover] if len(leftover) else []
    return _assemble(batches, rest, dropped, len(batches), clusters)


def _ordered(
    items: np.ndarray,
    clusters: np.ndarray,
    difficulty: np.ndarray,
    cfg: CurriculumConfig,
    rng: np.random.Generator,
    budget: int | None,
    dropped: np.ndarray,
) -> Curriculum:
    """SAERL's order over ``items``: easy to hard within each cluster (shuffled for no_curriculum),
    a stratified subset when ``budget`` is smaller, chunks of B paced round-robin across clusters,
    leftovers pooled at the end, then mixing (none for no_mixing)."""
    B = cfg.batch_size
    rho = 0.0 if cfg.mode == "no_mixing" else cfg.rho

    def easy_to_hard(idx: np.ndarray) -> np.ndarray:
        if cfg.mode == "no_curriculum":
            return rng.permutation(idx)
        return idx[np.argsort(difficulty[idx], kind="stable")]

    groups = [easy_to_hard(items[clusters[items] == c]) for c in np.unique(clusters[items])]
    if budget is not None:
        groups = stratified(groups, budget, unit=B)
    per_cluster, leftovers = [], []
    for group in groups:
        chunks, leftover = _chunks(group, B)
        if chunks:
            per_cluster.append(chunks)
        leftovers.append(leftover)
    batches = _interleave(per_cluster)
    pool = np.concatenate(leftovers) if leftovers else np.array([], dtype=int)
    pool = pool[np.argsort(difficulty[pool], kind="stable")]
    extra, last = _chunks(pool, B)
    labels = [int(np.bincount(clusters[b]).argmax()) for b in batches + extra]
    full = _mix(batches + extra, int(np.floor(rho * B)), labels)
    tail = [last] if len(last) else []
    return _assemble(full, tail, dropped, len(batches), clusters)


def coverage_budget(cfg: CurriculumConfig, pool: int, budget: int | None) -> int:
    """How many prompts coverage selection picks: a fraction of the pool rounded down to whole
    batches (a repeated stream replays full batches only, so a partial one would never be seen) and
    at least one batch, else the run's budget (steps * B), else the whole pool; never more than the
    pool."""
    if cfg.coverage_fraction is not None:
        n = round(cfg.coverage_fraction * pool)
        return min(pool, max(n - n % cfg.batch_size, cfg.batch_size))
    return pool if budget is None else min(pool, budget)


def _coverage_selection(
    signals: Signals,
    cfg: CurriculumConfig,
    features: Any,
    kept: np.ndarray,
    clusters: np.ndarray,
    budget: int | None,
) -> np.ndarray:
    """The prompts coverage selection picks from ``kept`` (indices into the signals)."""

    if features is None:
        raise ValueError("mode 'coverage' needs the pooled SAE features of the pool")
    if features.shape[0] != len(signals.ids):
        raise ValueError(f"coverage: features have {features.shape[0]} rows, the signals {len(signals.ids)}")
    weights = coverage.verifier_weights(signals.difficulty, signals.rollout_difficulty, cfg.coverage_weights)
    n = coverage_budget(cfg, len(kept), budget)
    z, u = features[kept], weights[kept]
    if cfg.coverage_scope == "cluster":
        local = coverage.greedy_logdet_per_cluster(
            z, u, clusters[kept], n, cfg.coverage_beta, cfg.coverage_ridge
        )
    else:
        local, _ = coverage.greedy_logdet(z, u, n, cfg.coverage_beta, cfg.coverage_ridge)
    return kept[local]


def _fit(cur: Curriculum, steps: int | None, cfg: CurriculumConfig) -> Curriculum:
    """Cover ``steps`` full batches. A stream with fewer full batches is repeated (cfg.overflow =
    'repeat': passes 1, 2, ... replay the full batches in the same order; the partial last batch is
    then left out, since its < B items would shift every later step off its batch) or refused."""
    if steps is None:
        return cur
    full = [t for t in range(cur.n_batches) if (cur.batch == t).sum() == cfg.batch_size]
    if len(full) >= steps:
        return cur
    if not full:
        raise ValueError(
            f"curriculum: {len(cur.order)} prompts do not fill one batch of {cfg.batch_size}; "
            "a larger pool or a smaller curriculum.batch_size is needed"
        )
    if cfg.overflow == "error":
        raise ValueError(
            f"curriculum: the run has {steps} steps but the stream has only {len(full)} full batches of "
            f"{cfg.batch_size} ({len(cur.order)} prompts); lower rl.steps or set curriculum.overflow=repeat"
        )
    rows = np.flatnonzero(np.isin(cur.batch, full))
    n_passes = -(-steps // len(full))
    index = np.searchsorted(full, cur.batch[rows])
    return Curriculum(
        np.tile(cur.order[rows], n_passes),
        np.concatenate([index + p * len(full) for p in range(n_passes)]),
        np.tile(cur.position[rows], n_passes),
        np.tile(cur.remainder[rows], n_passes),
        cur.dropped,
        cur.clusters,
        np.repeat(np.arange(n_passes), len(rows)),
    )


def _assemble(
    full: list[np.ndarray],
    tail: list[np.ndarray],
    dropped: np.ndarray,
    full_count: int,
    clusters: np.ndarray,
) -> Curriculum:
    """Flatten batches into the row arrays; batches at index >= full_count are remainder batches."""
    all_batches = full + tail
    if not all_batches:
        raise ValueError("curriculum: no prompts left to order")
    order = np.concatenate(all_batches).astype(int)
    batch = np.concatenate([np.full(len(b), t) for t, b in enumerate(all_batches)])
    position = np.concatenate([np.arange(len(b)) for b in all_batches])
    remainder = batch >= full_count
    return Curriculum(order, batch, position, remainder, np.sort(dropped), clusters)
