"""`make bench-shapes` on a small shape: both routes run through the features stage's own code
(capture_layer/run_to_layer, a sae-lens TopK SAE, pooling); the figures come from the bench only."""

from saerl import bench_shapes


def test_the_shape_bench_runs_both_routes_on_a_small_model():
    small = {
        "hidden_size": 64,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "intermediate_size": 128,
        "vocab_size": 512,
        "tie_word_embeddings": True,
    }
    results = bench_shapes.bench({"small": small}, prompts=2, length=8)
    r = results["shapes"]["small"]
    assert r["layer"] == 2 and r["n_layers"] == 4 and r["ratio"] > 0
    assert "| small |" in bench_shapes.markdown(results)
