import numpy as np
import pytest
import scipy.sparse as sp

from saerl.data.arith import generate
from saerl.data.config import ArithConfig
from saerl.data.grading import grade_int
from saerl.data.noise import OFF_TOPIC
from saerl.models.config import ModelSpec, SftConfig, TokenizerConfig
from saerl.models.sft import run_sft
from saerl.models.tiny import build_model
from saerl.models.tokenizer import train_tokenizer
from saerl.signals.config import DiversityConfig
from saerl.signals.diversity import cluster, topic_probe
from saerl.signals.probes import (
    correlation,
    fit_elasticnet,
    fit_quality_probe,
    quality_scores,
    score_probe,
    text_stats,
)
from saerl.signals.rollouts import failure_rates, sample_hf

SPLITS = generate(ArithConfig(n_train=100, n_sft=300, n_eval_id=10, n_eval_ood=10))


@pytest.fixture(scope="module")
def tiny_lm():
    records = SPLITS["sft"] + SPLITS["train"]
    corpus = [r.prompt for r in records] + [r.meta["solution"] for r in records] + list(OFF_TOPIC)
    tok = train_tokenizer(corpus, TokenizerConfig(vocab_size=300))
    model = build_model(ModelSpec("t", "qwen2", 64, 2, 2, 128), tok, seed=0)
    run_sft(model, tok, SPLITS["sft"], SftConfig(steps=30, batch_size=16, lr=3e-3, warmup_steps=3))
    return model.eval(), tok


def test_labeller_gives_k_samples_per_prompt_and_is_seeded(tiny_lm):
    model, tok = tiny_lm
    prompts = [r.prompt for r in SPLITS["train"][:6]]
    a = sample_hf(model, tok, prompts, k=4, temperature=1.0, max_new_tokens=24, batch_size=4, seed=7)
    b = sample_hf(model, tok, prompts, k=4, temperature=1.0, max_new_tokens=24, batch_size=4, seed=7)
    c = sample_hf(model, tok, prompts, k=4, temperature=1.0, max_new_tokens=24, batch_size=4, seed=8)
    assert len(a) == 6 and all(len(cs) == 4 for cs in a)
    assert a == b
    assert a != c
    assert len({s for cs in a for s in cs}) > 6  # sampling, not greedy copies
    rates = failure_rates(a, [r.answer for r in SPLITS["train"][:6]], grade_int)
    assert rates.shape == (6,) and ((rates >= 0) & (rates <= 1)).all()


def test_failure_rates_count_passes():
    rates = failure_rates([["#### 3", "#### 4", "x", "#### 3"], ["#### 1"] * 2], ["3", "2"], grade_int)
    np.testing.assert_allclose(rates, [0.5, 1.0])


def blobs(n_per, k, d, seed):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (k, d)) * 4
    labels = np.repeat(np.arange(k), n_per)
    z = np.abs(centres[labels] + rng.normal(0, 0.3, (len(labels), d)))
    return sp.csr_matrix(z), labels


def test_clusters_recover_separated_groups_and_are_seeded():
    z, truth = blobs(40, 4, 16, 0)
    labels = cluster(z, DiversityConfig(n_clusters=4))
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(truth, labels) > 0.95
    assert (cluster(z, DiversityConfig(n_clusters=4)) == labels).all()
    mini = cluster(z, DiversityConfig(n_clusters=4, minibatch_above=10))
    assert adjusted_rand_score(truth, mini) > 0.95


def test_impossible_cluster_request_is_named():
    z, _ = blobs(2, 2, 4, 0)
    with pytest.raises(ValueError, match=r"diversity\.n_clusters=8 is impossible with 4 prompts"):
        cluster(z, DiversityConfig(n_clusters=8))


def test_topic_probe_beats_majority_on_informative_features():
    z, truth = blobs(50, 3, 12, 1)
    topics = [f"t{t}" for t in truth]
    res = topic_probe(z, topics, DiversityConfig())
    assert res.accuracy > 0.9 and res.majority_baseline < 0.5 and res.n_topics == 3
    assert topic_probe(z, ["same"] * z.shape[0], DiversityConfig()) is None


def test_elasticnet_proxy_recovers_a_sparse_linear_signal():
    rng = np.random.default_rng(0)
    z = sp.random(400, 200, density=0.05, random_state=0, format="csr")
    w = np.zeros(200)
    w[:10] = rng.normal(0, 1, 10)
    y = z @ w + rng.normal(0, 0.05, 400)
    model = fit_elasticnet(z[:300], y[:300], (0.5, 1.0), 5, 0)
    assert correlation(model.predict(z[300:]), y[300:]).pearson > 0.8


@pytest.mark.parametrize("kind", ["elasticnet", "logistic", "ridge"])
def test_probes_fitted_on_few_rows_apply_to_a_sparse_pool_in_chunks(kind):
    """Fitted on the labelled rows (densified and centred), applied to a sparse pool as large as
    one likes: the chunked sparse predictions equal the dense ones."""
    rng = np.random.default_rng(1)
    pool = sp.random(5000, 300, density=0.05, random_state=1, format="csr", dtype=np.float32)
    y = pool @ rng.normal(0, 1, 300) + rng.normal(0, 0.1, 5000)
    lab = rng.choice(5000, 400, replace=False)
    if kind == "elasticnet":
        model = fit_elasticnet(pool[lab], y[lab], (0.5, 1.0), 3, 0)
    else:
        model = fit_quality_probe(pool[lab], y[lab] > np.median(y), kind, 0)
    assert model[0].with_mean  # the small labelled matrix was densified and centred
    model.chunk_rows = 700  # several chunks, the last one partial
    sparse_scores, dense_scores = quality_scores(model, pool), quality_scores(model, pool.toarray())
    np.testing.assert_allclose(sparse_scores, dense_scores, rtol=1e-6, atol=1e-9)
    assert sparse_scores.shape == (5000,)


def test_quality_probe_and_metadata_features():
    z, truth = blobs(60, 2, 10, 2)
    clean = truth == 0
    probe = fit_quality_probe(z, clean, "logistic", 0)
    assert score_probe(quality_scores(probe, z), clean).auc > 0.95
    ridge = fit_quality_probe(z, clean, "ridge", 0)
    assert score_probe(quality_scores(ridge, z), clean).auc > 0.95
    stats = text_stats(["What is 1+2?", "", "hello world."])
    assert stats.shape == (3, 8) and np.isfinite(stats).all()


def test_correlation_is_nan_when_undefined():
    c = correlation(np.ones(5), np.arange(5))
    assert np.isnan(c.pearson) and c.n == 5
