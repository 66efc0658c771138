import re
from collections import Counter

import pytest

from saerl.data.arith import SPLITS, column_add, column_mul, column_sub, generate
from saerl.data.config import NOISE_KINDS, ArithConfig
from saerl.data.records import write_records

SMALL = ArithConfig(n_train=1000, n_sft=400, n_eval_id=200, n_eval_ood=200)


def test_same_seed_gives_byte_identical_files(tmp_path):
    for run in ("a", "b"):
        for split, recs in generate(SMALL).items():
            write_records(tmp_path / f"{run}-{split}.jsonl", recs)
    for split in SPLITS:
        assert (tmp_path / f"a-{split}.jsonl").read_bytes() == (tmp_path / f"b-{split}.jsonl").read_bytes()
    other = generate(ArithConfig(**{**SMALL.__dict__, "seed": 1}))
    assert [r.prompt for r in other["train"]] != [r.prompt for r in generate(SMALL)["train"]]


def test_noise_rate_kinds_and_ground_truth():
    splits = generate(SMALL)
    kinds = Counter(r.meta["noise"] for r in splits["train"])
    assert sum(n for k, n in kinds.items() if k != "none") == round(SMALL.noise_rate * SMALL.n_train)
    assert set(kinds) == {"none", *NOISE_KINDS}
    for split in ("sft", "eval_id", "eval_ood"):
        assert {r.meta["noise"] for r in splits[split]} == {"none"}
    for r in splits["train"]:
        if r.meta["noise"] == "none":
            continue
        assert "clean_prompt" in r.meta and "clean_answer" in r.meta
        if r.meta["noise"] == "wrong_answer":
            assert r.answer != r.meta["clean_answer"] and r.prompt == r.meta["clean_prompt"]
        elif r.meta["noise"] == "truncated":
            assert r.meta["clean_prompt"].startswith(r.prompt) and len(r.prompt) < len(r.meta["clean_prompt"])
        elif r.meta["noise"] == "garbled":
            assert sorted(r.prompt) == sorted(r.meta["clean_prompt"])
    clean = generate(ArithConfig(**{**SMALL.__dict__, "noise_rate": 0.0}))
    assert {r.meta["noise"] for r in clean["train"]} == {"none"}


@pytest.mark.parametrize("rate", [0.05, 0.3])
def test_noise_rate_is_configurable(rate):
    cfg = ArithConfig(**{**SMALL.__dict__, "noise_rate": rate})
    noisy = sum(r.meta["noise"] != "none" for r in generate(cfg)["train"])
    assert noisy == round(rate * cfg.n_train)


HEADER = re.compile(r"(\d+)([+\-*])(\d+):")
RESULT = re.compile(r"=(\d+)\.")


def test_answers_are_correct_and_scratchpads_check_out():
    splits = generate(SMALL)
    for recs in splits.values():
        for r in recs:
            if r.meta["noise"] != "none":
                continue
            sol = r.meta["solution"]
            assert sol.endswith(f"#### {r.answer}")
            headers, results = HEADER.findall(sol), RESULT.findall(sol)
            assert len(headers) == len(results) == r.meta["n_ops"]
            for (a, op, b), res in zip(headers, results, strict=True):
                assert eval(f"{a}{op}{b}") == int(res), sol  # digits and + - * only
            assert int(results[-1]) == int(r.answer)
            assert headers[0][0] in re.findall(r"\d+", r.prompt), (r.prompt, sol)
            for lhs, rhs in re.findall(r"(1?\d[+\-*]\d(?:[+\-]\d)?)=(\d+)", sol):
                assert eval(lhs) == int(rhs), (lhs, rhs, sol)


def test_column_helpers_match_python_arithmetic():
    for a in range(0, 400, 7):
        for b in range(0, 400, 13):
            assert column_add(a, b).result == a + b
            if a >= b:
                assert column_sub(a, b).result == a - b
        for m in range(10):
            assert column_mul(a, m).result == a * m
    assert column_add(58, 67).carries == 2
    assert column_sub(100, 1).carries == 2


def test_splits_are_disjoint_and_difficulty_is_graded():
    cfg = ArithConfig(
        n_train=300, n_sft=100, n_eval_id=100, n_eval_ood=100, max_digits=2, sft_max_digits=1, ood="longer"
    )
    splits = generate(cfg)
    prompts = {s: {r.meta.get("clean_prompt", r.prompt) for r in recs} for s, recs in splits.items()}
    for i, a in enumerate(SPLITS):
        for b in SPLITS[i + 1 :]:
            assert not prompts[a] & prompts[b], (a, b)
    assert {r.meta["digits"] for r in splits["eval_ood"]} == {3}
    assert {r.meta["digits"] for r in splits["eval_id"]} == {1, 2}
    assert {r.meta["digits"] for r in splits["sft"]} == {1}
    mean = lambda rs: sum(r.meta["difficulty"] for r in rs) / len(rs)  # noqa: E731
    assert mean(splits["eval_ood"]) > mean(splits["eval_id"])


def test_the_shifted_ood_split_keeps_numbers_in_range_in_forms_no_training_split_has():
    import re

    from saerl.data.arith import OOD_NAMES, OOD_THINGS

    cfg = ArithConfig(n_train=600, n_sft=300, n_val=50, n_eval_id=100, n_eval_ood=200)
    splits = generate(cfg)
    ood = splits["eval_ood"]
    assert len(ood) == 200 and generate(cfg)["eval_ood"] == ood  # deterministic
    seen = [
        r.meta.get("clean_prompt", r.prompt) for s in ("sft", "train", "eval_id", "val") for r in splits[s]
    ]
    assert not {r.prompt for r in ood} & set(seen)
    words = {w for p in seen for w in re.findall(r"[A-Za-z]+", p)}
    assert not (set(OOD_NAMES) | set(OOD_THINGS)) & words  # new names and objects are really new
    assert all(len(n) <= cfg.max_digits for r in ood for n in re.findall(r"\d+", r.prompt.split(".")[0]))
    shapes = {
        "phrasing": sum(r.prompt.startswith(("Find the", "How much is")) or "groups of" in r.prompt
                        or "equals what" in r.prompt or r.prompt.startswith("Take ") for r in ood),
        "names": sum(any(w in r.prompt.split() for w in OOD_NAMES + OOD_THINGS) for r in ood),
        "distractor": sum(", and gets" in r.prompt for r in ood),
        "combination": sum(bool(re.fullmatch(r"Compute \d+(\+\d+\+|\*\d+-)\d+\.", r.prompt)) for r in ood),
    }  # fmt: skip
    assert shapes == {"phrasing": 50, "names": 50, "distractor": 50, "combination": 50}
    for r in ood:  # the answer is the worked solution's result
        assert r.meta["solution"].endswith(f"#### {r.answer}")


def test_topics_are_balanced_and_at_least_five():
    splits = generate(SMALL)
    counts = Counter(r.topic for r in splits["train"])
    assert len(counts) >= 5
    assert max(counts.values()) - min(counts.values()) <= 1


def test_impossible_request_is_a_clear_error():
    cfg = ArithConfig(
        n_train=0, n_sft=0, n_eval_id=5000, n_eval_ood=0, max_digits=1, sft_max_digits=1, topics=("addition",)
    )
    with pytest.raises(ValueError, match="cannot make 5000 distinct eval_id prompts"):
        generate(cfg)


def test_validation_split_is_clean_disjoint_and_leaves_the_other_splits_unchanged():
    from dataclasses import replace

    cfg = ArithConfig(n_train=80, n_sft=60, n_val=40, n_eval_id=20, n_eval_ood=20)
    with_val, without = generate(cfg), generate(replace(cfg, n_val=0))
    assert len(with_val["val"]) == 40 and without["val"] == []
    assert all(r.meta.get("noise", "none") == "none" for r in with_val["val"])
    others = {r.prompt for split in ("sft", "train", "eval_id", "eval_ood") for r in with_val[split]}
    assert not others & {r.prompt for r in with_val["val"]}
    for split in ("sft", "train", "eval_id", "eval_ood"):
        assert with_val[split] == without[split]


def test_held_out_items_say_whether_a_training_prompt_asks_the_same_computation():
    from saerl.data.arith import generate
    from saerl.data.config import ArithConfig

    splits = generate(ArithConfig(n_train=300, n_sft=300, n_val=50, n_eval_id=100, n_eval_ood=100))
    trained = {r.meta["computation"] for s in ("train", "sft") for r in splits[s]}
    for split in ("eval_id", "eval_ood", "val"):
        for r in splits[split]:
            assert r.meta["seen_computation"] == (r.meta["computation"] in trained)
    seen = [r.meta["seen_computation"] for r in splits["eval_id"]]
    assert 0 < sum(seen) < len(seen)  # both kinds exist in distribution
    # one computation, whatever the wording and the order of a sum's operands
    from saerl.data.arith import Problem, computation, solve

    assert computation(Problem("addition", "What is 7+12?", (solve(7, "+", 12),), 2)) == "7+12"
    assert computation(Problem("addition", "Add 12 and 7.", (solve(12, "+", 7),), 2)) == "7+12"
    assert computation(Problem("subtraction", "x", (solve(12, "-", 7),), 2)) == "12-7"
