"""`make bench-scale` on a small pool: the stages run, the stream's contract is checked, the report
names every stage (the figures themselves come from the bench, never from a test)."""

from saerl.bench import scale as bench_scale


def test_the_scale_bench_runs_every_stage_on_a_small_pool():
    results = bench_scale.bench({"prompts": 3000, "latents": 1024, "k": 16}, steps=10, batch=32)
    assert list(results["stages"]) == ["pool + models", "features", "signals", "curriculum"]
    feats = results["stages"]["features"]
    assert feats["shards"] == 1 and 16 <= feats["nnz_per_prompt"] <= 1024
    cur = results["stages"]["curriculum"]
    assert cur["batches"] >= 10 and cur["unique_prompts"] == 320
    assert 2000 < cur["kept"] < 3000  # the quality filter drops some of the 15% noise
    text = bench_scale.markdown(results)
    assert "| signals |" in text and "every batch full" in text and "shards streamed" in text


def test_synthetic_failure_follows_the_generators_difficulty():
    records = bench_scale.pool(2000)
    failure = bench_scale.synthetic_failure(records)
    difficulty = [r.meta["difficulty"] for r in records]
    assert ((failure >= 0) & (failure <= 1)).all()
    import numpy as np

    assert np.corrcoef(difficulty, failure)[0, 1] > 0.5
