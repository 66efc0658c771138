"""`make bench-scale` on a small pool: the stages run, the stream's contract is checked, the report
names every stage (the figures themselves come from the bench, never from a test)."""

from saerl import bench_scale


def test_the_scale_bench_runs_every_stage_on_a_small_pool():
    shape = {"prompts": 3000, "latents": 1024, "active": 16, "topics": 8, "d_model": 32}
    results = bench_scale.bench(shape, steps=10, batch=32)
    assert list(results["stages"]) == ["synthesis", "features (write + read)", "signals", "curriculum"]
    cur = results["stages"]["curriculum"]
    assert cur["kept"] == 2700 and cur["unique_prompts"] == 320 and cur["batches"] >= 10
    text = bench_scale.markdown(results)
    assert "| signals |" in text and "every batch full" in text
