"""Properties of the ordered batch stream on random inputs (METHOD.md section 2)."""

import itertools
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saerl.curriculum.config import ORDERINGS, CurriculumConfig
from saerl.curriculum.order import Signals, build_curriculum


def make_signals(n, k, seed):
    rng = np.random.default_rng(seed)
    return Signals(
        ids=[f"p{i}" for i in range(n)],
        cluster=rng.integers(0, k, n),
        difficulty=rng.random(n),
        quality=rng.random(n),
        length=rng.integers(5, 80, n),
        rollout_difficulty=rng.random(n),
    )


inputs = st.tuples(
    st.integers(1, 300),  # n
    st.integers(1, 7),  # clusters
    st.integers(1, 16),  # B
    st.sampled_from([0.0, 0.125, 0.25, 0.4, 0.5]),  # rho
    st.integers(0, 2**16),  # seed
)


def batches_of(cur):
    return [cur.order[cur.batch == t] for t in range(cur.n_batches)]


@settings(max_examples=150, deadline=None)
@given(inputs, st.sampled_from(ORDERINGS))
def test_output_is_a_permutation_of_the_kept_ids(args, mode):
    n, k, B, rho, seed = args
    sig = make_signals(n, k, seed)
    cur = build_curriculum(sig, CurriculumConfig(mode=mode, batch_size=B, rho=rho, seed=seed))
    assert len(set(cur.order.tolist())) == len(cur.order)
    assert sorted(cur.order.tolist() + cur.dropped.tolist()) == list(range(n))
    if mode in ("vanilla", "no_quality_filter"):
        assert len(cur.dropped) == 0
    else:
        assert len(cur.dropped) == int(np.floor(0.1 * n))
        assert sig.quality[cur.dropped].max(initial=-1) <= sig.quality[cur.order].min()


@settings(max_examples=150, deadline=None)
@given(inputs, st.sampled_from(ORDERINGS))
def test_every_batch_has_B_items_except_the_last(args, mode):
    n, k, B, rho, seed = args
    cur = build_curriculum(make_signals(n, k, seed), CurriculumConfig(mode=mode, batch_size=B, rho=rho))
    sizes = [len(b) for b in batches_of(cur)]
    assert all(s == B for s in sizes[:-1])
    assert 1 <= sizes[-1] <= B
    assert (cur.position == np.concatenate([np.arange(s) for s in sizes])).all()


@settings(max_examples=200, deadline=None)
@given(inputs)
def test_mixing_keeps_exactly_b_minus_floor_rho_b_own_items_per_batch(args):
    """docs/method.md section 2: each mixed batch keeps B - m of its own items and holds m foreign
    ones (own share 1 - rho, not 1 - 2 rho), each item once, none moved further than a few batches
    (the nearest batch of another cluster within MIX_WINDOW, or a 3-cycle at the end)."""
    from saerl.curriculum.order import MIX_WINDOW

    n, k, B, rho, seed = args
    sig = make_signals(n, k, seed)
    cfg = CurriculumConfig(batch_size=B, rho=rho)
    mixed, unmixed = build_curriculum(sig, cfg), build_curriculum(sig, replace(cfg, rho=0.0))
    assert sorted(mixed.order.tolist()) == sorted(unmixed.order.tolist())
    home = {int(i): int(t) for i, t in zip(unmixed.order, unmixed.batch, strict=True)}
    m = int(np.floor(rho * B))
    full = [t for t, b in enumerate(batches_of(unmixed)) if len(b) == B]
    for t, items in enumerate(batches_of(mixed)):
        own = sum(home[int(i)] == t for i in items)
        if t in full and len(full) >= 2:
            assert own == B - m and len(items) - own == m
            assert all(abs(home[int(i)] - t) <= MIX_WINDOW + 2 for i in items)
        else:
            assert own == len(items)  # the partial last batch (or a lone batch) is never mixed


def test_mixing_pairs_neighbours_and_closes_an_odd_count_with_a_cycle():
    from saerl.curriculum.order import mixing_partners

    assert mixing_partners(1) == [0]
    assert mixing_partners(4) == [1, 0, 3, 2]
    assert mixing_partners(5) == [1, 0, 3, 4, 2]
    for n in range(2, 40):
        p = mixing_partners(n)
        assert sorted(p) == list(range(n)) and all(p[t] != t for t in range(n))


@pytest.mark.parametrize("B", [4, 8, 16])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clusters_per_batch_never_fall_as_rho_grows(B, seed):
    """With cluster sizes a multiple of B (no remainder batches), more mixing never means fewer
    clusters per batch; at rho = 0.5 every batch still keeps half of its own cluster."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 6, 4) * B
    cluster = np.repeat(np.arange(4), sizes)
    n = len(cluster)
    sig = Signals([str(i) for i in range(n)], cluster, rng.random(n), np.ones(n))
    means = []
    for rho in (0.0, 0.125, 0.25, 0.375, 0.5):
        cur = build_curriculum(sig, CurriculumConfig(batch_size=B, rho=rho, quality_fraction=0.0))
        per_batch = [len(set(cluster[b].tolist())) for b in batches_of(cur)]
        means.append(np.mean(per_batch))
        shares = [np.bincount(cluster[b]).max() / B for b in batches_of(cur)]
        assert min(shares) >= 1 - np.floor(rho * B) / B
    assert means[0] == 1.0
    assert all(a <= b for a, b in itertools.pairwise(means))


def test_kept_prompts_are_clustered_after_the_filter():
    """The recluster function sees exactly the prompts the quality filter kept."""
    sig = make_signals(100, 3, 0)
    seen = []

    def recluster(kept):
        seen.append(kept.copy())
        return np.arange(len(kept)) % 2

    cur = build_curriculum(sig, CurriculumConfig(batch_size=5, rho=0.0), recluster)
    (kept,) = seen
    assert sorted(kept.tolist()) == sorted(cur.order.tolist()) and len(kept) == 90
    assert set(cur.clusters[cur.order].tolist()) == {0, 1} and (cur.clusters[cur.dropped] == -1).all()


@settings(max_examples=150, deadline=None)
@given(inputs)
def test_without_mixing_batches_are_single_cluster_and_easy_to_hard(args):
    n, k, B, _, seed = args
    sig = make_signals(n, k, seed)
    cur = build_curriculum(sig, CurriculumConfig(batch_size=B, rho=0.0))
    last_difficulty: dict[int, float] = {}
    for t, b in enumerate(batches_of(cur)):
        if cur.remainder[cur.batch == t].any():
            continue  # remainder batches pool each cluster's leftovers (documented)
        (c,) = set(cur.clusters[b].tolist())
        d = sig.difficulty[b]
        assert (np.diff(d) >= 0).all()
        assert d[0] >= last_difficulty.get(c, -np.inf)
        last_difficulty[c] = d[-1]


def test_clusters_are_paced_to_end_together():
    sig = Signals(
        ids=[str(i) for i in range(120)],
        cluster=np.array([0] * 80 + [1] * 40),
        difficulty=np.zeros(120),
        quality=np.ones(120),
    )
    cur = build_curriculum(sig, CurriculumConfig(batch_size=10, rho=0.0, quality_fraction=0.0))
    seq = [int(sig.cluster[b[0]]) for b in batches_of(cur)]
    assert seq == [0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0]  # 8 chunks vs 4, interleaved 2:1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_seed_gives_the_identical_stream(seed):
    sig = make_signals(200, 5, seed)
    for mode in ORDERINGS:
        cfg = CurriculumConfig(mode=mode, batch_size=8, seed=seed)
        a, b = build_curriculum(sig, cfg), build_curriculum(sig, cfg)
        assert (a.order == b.order).all() and (a.batch == b.batch).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_ablation_differs_from_saerl_in_exactly_its_component(seed):
    sig = make_signals(240, 4, seed)
    cfg = CurriculumConfig(batch_size=8, rho=0.25, seed=seed)
    full = build_curriculum(sig, cfg)

    def same(a, b):
        return np.array_equal(a.order, b.order) and np.array_equal(a.batch, b.batch)

    def run(mode, signals=sig, **changes):
        return build_curriculum(signals, replace(cfg, mode=mode, **changes))

    assert same(run("no_mixing"), run("saerl", rho=0.0))
    assert same(run("no_quality_filter"), run("saerl", quality_fraction=0.0))
    assert same(run("length"), run("saerl", replace(sig, difficulty=sig.length.astype(float))))
    assert same(run("rollout"), run("saerl", replace(sig, difficulty=sig.rollout_difficulty)))
    assert same(run("no_cluster"), run("saerl", replace(sig, cluster=np.zeros(240, dtype=int))))
    # no_curriculum keeps the cluster-first structure and the kept set, but not the within-cluster order.
    nc, base = run("no_curriculum", rho=0.0), run("saerl", rho=0.0)
    main = ~base.remainder  # the remainder pools each cluster's leftovers, which differ by design
    assert (nc.remainder == base.remainder).all()
    assert (sig.cluster[nc.order[main]] == sig.cluster[base.order[main]]).all()
    assert set(nc.order.tolist()) == set(base.order.tolist())
    assert not same(nc, base)
    vanilla = run("vanilla")
    assert len(vanilla.dropped) == 0 and not same(vanilla, full)
    for mode in ORDERINGS:
        if mode != "saerl":
            assert not same(run(mode), full), mode


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match=r"rho: expected 0 <= rho <= 0\.5"):
        CurriculumConfig(rho=0.7)
    with pytest.raises(ValueError, match="signals: quality has 2 rows, ids has 3"):
        Signals(ids=["a", "b", "c"], cluster=np.zeros(3), difficulty=np.zeros(3), quality=np.zeros(2))
    sig = Signals(ids=["a", "b"], cluster=np.zeros(2), difficulty=np.zeros(2), quality=np.zeros(2))
    with pytest.raises(ValueError, match="mode 'length' needs prompt lengths"):
        build_curriculum(sig, CurriculumConfig(mode="length"))


@settings(max_examples=150, deadline=None)
@given(inputs, st.integers(1, 40), st.sampled_from(ORDERINGS))
def test_a_run_gets_exactly_one_full_batch_per_step(args, steps, mode):
    """Whatever the pool, the stream has `steps` batches of B: a stratified subset when the pool is
    larger than the budget, repeated passes when it is smaller."""
    n, k, B, rho, seed = args
    cfg = CurriculumConfig(mode=mode, batch_size=B, rho=rho, seed=seed)
    sig = make_signals(n, k, seed)
    pool = n if mode in ("vanilla", "no_quality_filter") else n - int(np.floor(0.1 * n))
    if pool < B:
        with pytest.raises(ValueError, match=rf"do not fill one batch of {B}"):
            build_curriculum(sig, cfg, steps=steps)
        return
    cur = build_curriculum(sig, cfg, steps=steps)
    sizes = [len(b) for b in batches_of(cur)]
    assert len(sizes) >= steps and all(s == B for s in sizes[:steps])
    first = cur.order[cur.passes == 0]
    assert len(set(first.tolist())) == len(first)  # each prompt once per pass
    if cur.passes.max() > 0:  # later passes replay the first pass's full batches, in order
        full_rows = cur.order[
            (cur.passes == 0) & np.isin(cur.batch, [t for t, s in enumerate(sizes) if s == B])
        ]
        assert (cur.order[cur.passes == 1][: len(full_rows)] == full_rows).all()


def test_a_short_run_trains_a_stratified_subset_spanning_easy_to_hard():
    sig = make_signals(2000, 4, 0)
    cfg = CurriculumConfig(batch_size=16, rho=0.0)
    cur = build_curriculum(sig, cfg, steps=20)  # 320 of 1800 kept prompts
    assert cur.n_batches == 20 and len(cur.order) == 320
    whole = build_curriculum(sig, cfg)
    first_20 = whole.order[whole.batch < 20]
    # the whole stream's first 20 batches are the easy end; the fitted stream spans each cluster
    assert sig.difficulty[cur.order].mean() > sig.difficulty[first_20].mean() + 0.2
    for c in range(4):
        kept_c = whole.order[sig.cluster[whole.order] == c]
        mine = cur.order[sig.cluster[cur.order] == c]
        assert abs(len(mine) - 320 * len(kept_c) / len(whole.order)) <= 16  # by size, in whole batches
        assert len(mine) % 16 == 0
        assert sig.difficulty[mine].max() >= np.quantile(sig.difficulty[kept_c], 0.9)
        assert sig.difficulty[mine].min() <= np.quantile(sig.difficulty[kept_c], 0.1)


def test_a_long_run_repeats_the_stream_or_refuses():
    sig = make_signals(100, 2, 0)  # 90 kept: 11 full batches of 8 and a partial one
    cur = build_curriculum(sig, CurriculumConfig(batch_size=8, rho=0.0), steps=30)
    assert cur.n_batches >= 30 and cur.passes.max() == 2  # 11 full batches a pass; the partial one left out
    assert all((cur.batch == t).sum() == 8 for t in range(cur.n_batches))
    with pytest.raises(
        ValueError, match=r"the run has 30 steps but the stream has only 11 full batches of 8"
    ):
        build_curriculum(sig, CurriculumConfig(batch_size=8, overflow="error"), steps=30)


def test_vanilla_with_a_budget_is_a_uniform_random_subset():
    sig = make_signals(1000, 3, 0)
    cur = build_curriculum(sig, CurriculumConfig(mode="vanilla", batch_size=10, seed=5), steps=7)
    perm = np.random.default_rng(5).permutation(1000)
    assert (cur.order == perm[:70]).all() and cur.n_batches == 7


def test_interpretation_names_defining_latents_difficulty_latents_and_filter_drops():
    import scipy.sparse as sp

    from saerl.curriculum.interpret import interpret
    from saerl.data.records import Record
    from saerl.signals.compute import latent_weights
    from saerl.signals.probes import fit_elasticnet

    rng = np.random.default_rng(0)
    n, d = 120, 12
    z = rng.random((n, d)) * 0.1
    cluster_of = np.repeat([0, 1, 2], n // 3)
    for c, latent in enumerate((2, 5, 9)):  # each cluster has one latent of its own
        z[cluster_of == c, latent] += 1.0
    y = 0.8 * z[:, 5] - 0.6 * z[:, 2] + rng.normal(0, 0.01, n)  # latent 5 harder, 2 easier
    model = fit_elasticnet(sp.csr_matrix(z), y, (0.5, 1.0), 3, 0)
    weights = latent_weights(model)
    assert weights["positive"][0][0] == 5 and weights["negative"][0][0] == 2
    noise = ["none"] * (n - 10) + ["off_topic"] * 10
    records = [
        Record(f"r{i}", f"prompt {i}", "1", f"t{cluster_of[i]}", "x", {"noise": noise[i]}) for i in range(n)
    ]
    dropped = np.arange(n - 10, n)  # the filter caught every off-topic prompt
    cluster_of = cluster_of.copy()
    cluster_of[dropped] = -1
    info = interpret(records, sp.csr_matrix(z), cluster_of, model.predict(z), dropped, weights)
    by_id = {c["cluster"]: c for c in info["clusters"]}
    assert [by_id[c]["defining_latents"][0][0] for c in (0, 1, 2)] == [2, 5, 9]
    assert by_id[0]["topics"] == [["t0", 1.0]] and by_id[2]["size"] == 30
    assert by_id[1]["mean_difficulty"] > by_id[0]["mean_difficulty"]  # the harder latent's cluster
    assert all(len(c["central_prompts"]) == 3 for c in info["clusters"])
    harder = info["difficulty_latents"]["positive"][0]
    assert harder["latent"] == 5 and all(int(p.split()[1]) in range(40, 80) for p in harder["top_prompts"])
    assert info["quality_filter"] == {
        "none": {"dropped": 0, "kept": 110},
        "off_topic": {"dropped": 10, "kept": 0},
    }


@settings(max_examples=100, deadline=None)
@given(inputs, st.integers(1, 30))
def test_a_fitted_stream_without_mixing_is_single_cluster_in_every_batch(args, steps):
    """rho = 0 and no_mixing are pure: a run's budget is shared out in whole batches, so no
    remainder batch pools several clusters' hardest items."""
    n, k, B, _, seed = args
    sig = make_signals(n, k, seed)
    kept = n - int(np.floor(0.1 * n))
    if steps * B >= kept or kept < B:
        return  # no stratified selection: the whole pool is ordered (remainders documented)
    for mode, rho in (("saerl", 0.0), ("no_mixing", 0.25)):
        cur = build_curriculum(sig, CurriculumConfig(mode=mode, batch_size=B, rho=rho), steps=steps)
        per_cluster = np.bincount(cur.clusters[cur.clusters >= 0])
        if (per_cluster // B).sum() < steps:
            continue  # the clusters cannot fill the budget in whole batches (documented remainder)
        for b in batches_of(cur)[:steps]:
            assert len(set(cur.clusters[b].tolist())) == 1, (mode, b)


def test_mixing_swaps_tails_between_clusters_whenever_one_is_within_reach():
    from saerl.curriculum.order import MIX_WINDOW, mixing_partners

    labels = [0, 0, 0, 1, 1, 2, 0, 0, 1, 2, 1]
    partner = mixing_partners(len(labels), labels)
    assert sorted(partner) == list(range(len(labels))) and all(p != t for t, p in enumerate(partner))
    assert all(abs(p - t) <= MIX_WINDOW + 2 for t, p in enumerate(partner))
    same = [t for t, p in enumerate(partner) if labels[p] == labels[t]]
    assert same == []
    sig = make_signals(1200, 5, 3)
    cur = build_curriculum(sig, CurriculumConfig(batch_size=16, rho=0.25), steps=40)
    for b in batches_of(cur)[:40]:
        own = np.bincount(cur.clusters[b]).max()
        assert own == 12 and len(set(cur.clusters[b].tolist())) == 2  # 4 foreign items, of another cluster
