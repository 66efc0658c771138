"""The six benchmarks: fixture files in each one's published columns, loaded and graded, with the
known hard cases (fractions, nested \\boxed{}, units, multiple answers, float answers)."""

import json

import pytest

from saerl.data.benchmarks import BENCHMARKS, grade, load_benchmark, score, with_instruction
from saerl.data.records import DataError


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def write_parquet(path, rows):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)
    return str(path)


FIXTURES = {
    "gsm8k": [
        {"question": "Tom has 3 apples and buys 4. How many?", "answer": "3 + 4 = <<3+4=7>>7\n#### 7"},
        {"question": "A car costs 1200 dollars...", "answer": "...\n#### 1,200"},
        {"question": "broken row", "answer": "no marker here"},
    ],
    "math500": [
        {
            "problem": "What is $\\frac{2}{4}$ in lowest terms?",
            "solution": "It is $\\boxed{\\frac{1}{2}}$.",
            "answer": "\\frac{1}{2}",
            "subject": "Prealgebra",
            "level": 1,
            "unique_id": "test/prealgebra/1.json",
        },
        {
            "problem": "Find $\\sqrt{12}$.",
            "solution": "$\\sqrt{12} = \\boxed{2\\sqrt{3}}$",
            "answer": "2\\sqrt{3}",
            "subject": "Algebra",
            "level": 2,
            "unique_id": "test/algebra/2.json",
        },
    ],
    "aime24": [
        {
            "id": 60,
            "problem": "Find the remainder ...",
            "solution": "...",
            "answer": "204",
            "url": "u",
            "year": 2024,
        },
        {"id": 61, "problem": "Let x be ...", "solution": "...", "answer": "025", "url": "u", "year": 2024},
    ],
    "aime25": [
        {"id": "0", "problem": "Find the sum of all integer bases ...", "answer": "70"},
        {"id": "1", "problem": "On triangle ABC ...", "answer": "588"},
    ],
    "amc23": [
        {"id": 0, "url": "u", "question": "Cities A and B are 45 miles apart ...", "answer": 27.0},
        {"id": 1, "url": "u", "question": "What is the value of ...", "answer": 0.5},
    ],
    "minerva": [
        {"question": "A star has a parallax of 0.1 arcsec. Its distance in parsecs?", "answer": "10"},
        {"question": "Compute the energy ...", "answer": "$1.5 \\times 10^{3}$"},
    ],
    "olympiadbench": [
        {
            "id": 1606,
            "question": "Find all real x with x^2 = 9.",
            "solution": ["x = 3 or x = -3"],
            "final_answer": ["$3$, $-3$"],
            "context": None,
            "is_multiple_answer": True,
            "unit": None,
            "answer_type": "Numerical",
            "error": None,
            "subfield": "Algebra",
            "subject": "Math",
            "language": "English",
        },
        {
            "id": 1607,
            "question": "How long is the side?",
            "solution": ["..."],
            "final_answer": ["$5$"],
            "context": None,
            "is_multiple_answer": False,
            "unit": "cm",
            "answer_type": "Numerical",
            "error": None,
            "subfield": "Geometry",
            "subject": "Math",
            "language": "English",
        },
    ],
}


def test_every_benchmark_is_named_with_its_hub_source_and_k():
    assert sorted(BENCHMARKS) == sorted(FIXTURES)
    assert {n for n, b in BENCHMARKS.items() if b.samples > 1} == {"aime24", "aime25", "amc23"}
    assert BENCHMARKS["olympiadbench"].config == "OE_TO_maths_en_COMP"


@pytest.mark.parametrize("name", sorted(FIXTURES))
@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_fixture_files_in_published_columns_load(name, fmt, tmp_path):
    writer = write_jsonl if fmt == "jsonl" else write_parquet
    source = writer(tmp_path / f"{name}.{fmt}", FIXTURES[name])
    records, report = load_benchmark(name, source)
    good = [r for r in FIXTURES[name] if r.get("answer") != "no marker here"]
    assert len(records) == len(good) and report.kept == len(good)
    assert all(r.prompt and r.answer and r.source == name for r in records)


def load(name, tmp_path):
    records, _ = load_benchmark(name, write_jsonl(tmp_path / f"{name}.jsonl", FIXTURES[name]))
    return records


def test_answers_are_normalised_per_benchmark(tmp_path):
    gsm = load("gsm8k", tmp_path)
    assert [r.answer for r in gsm] == ["7", "1200"]
    assert load("amc23", tmp_path)[0].answer == "27"  # a float column: 27.0 -> "27"
    assert load("aime24", tmp_path)[0].id == "60"  # published ids kept
    assert load("math500", tmp_path)[0].id == "test/prealgebra/1.json"
    assert load("minerva", tmp_path)[1].answer == "1.5 \\times 10^{3}"  # $...$ stripped
    multi, unit = load("olympiadbench", tmp_path)
    assert multi.answer == "3 ; -3" and multi.meta["multiple"] and unit.meta["unit"] == "cm"


def test_bad_rows_are_counted_and_a_missing_file_is_named(tmp_path):
    _, report = load_benchmark("gsm8k", write_jsonl(tmp_path / "g.jsonl", FIXTURES["gsm8k"]))
    assert report.skipped["no_final_answer_marker"] == 1
    with pytest.raises(DataError, match=r"no_such\.jsonl: no such file"):
        load_benchmark("gsm8k", str(tmp_path / "no_such.jsonl"))
    with pytest.raises(DataError, match="benchmark 'mmlu': choose from"):
        load_benchmark("mmlu", str(tmp_path / "g.jsonl"))


@pytest.mark.parametrize(
    ("name", "row", "completion", "correct"),
    [
        ("math500", 0, "So the answer is $\\boxed{\\frac{1}{2}}$.", True),
        ("math500", 0, "The answer is \\boxed{0.5}", True),  # a decimal equals the fraction
        ("math500", 0, "\\boxed{\\dfrac{2}{4}}", True),
        ("math500", 0, "\\boxed{\\frac{1}{3}}", False),
        ("math500", 1, "\\boxed{2\\sqrt{3}}", True),
        ("math500", 1, "\\boxed{\\sqrt{12}}", True),
        ("math500", 1, "first \\boxed{3}, finally \\boxed{2\\sqrt{3}}", True),  # the last box counts
        ("math500", 1, "\\boxed{2\\sqrt{3}} was wrong, it is \\boxed{3}", False),
        ("aime24", 1, "\\boxed{25}", True),  # AIME's zero-padded 025
        ("aime25", 0, "\\boxed{\\boxed{70}}", True),  # nested boxes
        ("aime25", 0, "\\boxed{{70}}", True),  # extra braces
        ("amc23", 0, "\\boxed{27}", True),
        ("amc23", 1, "\\boxed{\\frac12}", True),
        ("gsm8k", 1, "The car costs \\boxed{1,200} dollars.", True),
        ("gsm8k", 1, "The car costs \\boxed{\\$1200}.", True),
        ("gsm8k", 0, "no box, the answer is 7", True),  # falls back to the whole text
        ("minerva", 1, "\\boxed{1500}", True),
        ("minerva", 0, "\\boxed{10 \\text{ pc}}", True),
        ("olympiadbench", 0, "\\boxed{-3, 3}", True),  # every answer, any order
        ("olympiadbench", 0, "\\boxed{3}", False),  # one of two is not enough
        ("olympiadbench", 0, "\\boxed{3, -3, 1}", False),
        ("olympiadbench", 0, "\\boxed{3 \\text{ and } -3}", True),
        ("olympiadbench", 1, "\\boxed{5 \\text{ cm}}", True),  # the unit is stripped
        ("olympiadbench", 1, "\\boxed{5\\mathrm{cm}}", True),
        ("olympiadbench", 1, "\\boxed{6 \\text{ cm}}", False),
        ("math500", 0, "", False),
        ("math500", 0, "\\boxed{", False),  # garbage never raises
    ],
)
def test_grading_hard_cases(name, row, completion, correct, tmp_path):
    assert grade(completion, load(name, tmp_path)[row]) is correct


def test_score_greedy_accuracy_and_avg_at_k(tmp_path):
    records = load("aime25", tmp_path)
    greedy = ["\\boxed{70}", "\\boxed{1}"]
    samples = [["\\boxed{70}", "\\boxed{70}", "\\boxed{1}", "x"], ["\\boxed{588}", "x", "x", "x"]]
    got = score(records, greedy, samples)
    assert got == {"accuracy": 0.5, "avg@4": pytest.approx((2 / 4 + 1 / 4) / 2)}
    assert score(records, greedy) == {"accuracy": 0.5}
    with pytest.raises(ValueError, match="1 greedy completions for 2 problems"):
        score(records, greedy[:1])
    assert with_instruction("1+1?").endswith("put your final answer within \\boxed{}.")


def test_multiple_answers_split_outside_brackets_only():
    from saerl.data.answers import split_top_level

    assert split_top_level("$3$, $-3$") == ["$3$", "$-3$"]
    assert split_top_level("$(1,2)$, $(3,4)$") == ["$(1,2)$", "$(3,4)$"]
    assert split_top_level("(1, 2), [3, 4]; \\{5, 6\\}") == ["(1, 2)", "[3, 4]", "\\{5, 6\\}"]
    assert split_top_level("\\frac{1,2}{3}") == ["\\frac{1,2}{3}"]


def test_benchmark_config_is_checked():
    from saerl.config import load_experiment
    from saerl.configlib import ConfigError

    with pytest.raises(ConfigError, match=r"rl\.eval_benchmarks: unknown benchmark 'mmlu'"):
        load_experiment(overrides=["rl.eval_benchmarks=[mmlu]"])
    with pytest.raises(ConfigError, match=r"rl\.benchmark_files: \['aime24'\] not in rl\.eval_benchmarks"):
        load_experiment(overrides=["rl.eval_benchmarks=[gsm8k]", "rl.benchmark_files={aime24: a.jsonl}"])
    with pytest.raises(ConfigError, match=r"rl\.eval_splits: name at least one split"):
        load_experiment(overrides=["rl.eval_splits=[]"])


def test_benchmarks_are_a_graph_node_keyed_by_their_files(tmp_path):
    from saerl.config import load_experiment
    from saerl.launch.graph import StageGraph

    src = write_jsonl(tmp_path / "gsm8k.jsonl", FIXTURES["gsm8k"])
    over = [
        f"store_dir={tmp_path / 'store'}",
        "rl.eval_benchmarks=[gsm8k, aime25]",
        f"rl.benchmark_files={{gsm8k: {src}}}",
    ]
    graph = StageGraph(load_experiment(overrides=over))
    node = graph.benchmarks
    assert node.config["benchmarks"] == {"gsm8k": src, "aime25": ""}  # '' = the hub id
    assert graph.run.inputs["benchmarks"] is node and graph.eval0.inputs["benchmarks"] is node
    assert StageGraph(load_experiment(overrides=[f"store_dir={tmp_path / 'store'}"])).benchmarks is None
    write_jsonl(tmp_path / "gsm8k.jsonl", FIXTURES["gsm8k"][:2])  # an edited copy is a new eval set
    assert StageGraph(load_experiment(overrides=over)).benchmarks.key != node.key


@pytest.mark.slow
def test_a_run_evaluates_named_benchmarks_and_the_report_shows_them(tiny, tmp_path):
    from conftest import RL_OVERRIDES

    from analysis.report import write_report
    from analysis.sources import rundirs
    from saerl.config import load_experiment
    from saerl.launch.local import build, train_run

    overrides, store = tiny
    names = ("gsm8k", "olympiadbench", "aime25")
    files = {name: write_jsonl(tmp_path / f"{name}.jsonl", FIXTURES[name]) for name in names}
    cfg = load_experiment(
        overrides=[
            *overrides,
            *RL_OVERRIDES,
            "rl.steps=2",
            "rl.eval_every=2",
            "rl.save_every=2",
            "rl.eval_splits=[]",
            "rl.eval_benchmarks=[gsm8k, olympiadbench, aime25]",
            "rl.eval_batch_size=3",
            "rl.benchmark_files={" + ", ".join(f"{k}: {v}" for k, v in files.items()) + "}",
            f"runs_dir={tmp_path / 'runs'}",
            "name=bench",
        ]
    )
    built = build(cfg, store, "benchmarks")
    assert built.manifest["info"]["sizes"] == {"gsm8k": 2, "olympiadbench": 2, "aime25": 2}
    run = train_run(cfg, store)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if "eval/average" in r]
    assert [r["step"] for r in evals] == [0, 2]
    assert all(
        {"eval/gsm8k/accuracy", "eval/olympiadbench/accuracy", "eval/aime25/accuracy"} <= set(r)
        for r in evals
    )
    # avg@16 at the final evaluation only, for the set that publishes it, outside the average
    assert "eval/aime25/avg@16" not in evals[0] and 0 <= evals[-1]["eval/aime25/avg@16"] <= 1
    accuracies = [v for k, v in evals[-1].items() if k.endswith("/accuracy")]
    assert evals[-1]["eval/average"] == pytest.approx(sum(accuracies) / 3)
    assert not any(k.startswith(("eval/eval_id", "eval/eval_ood")) for r in evals for k in r)
    eval0 = build(cfg, store, "eval0")  # the OpenRLHF runs' step 0 reads the same sets
    assert set(json.loads((eval0.path / "metrics.json").read_text())) == {
        "eval/gsm8k/accuracy",
        "eval/olympiadbench/accuracy",
        "eval/aime25/accuracy",
        "eval/average",
    }
    write_report(rundirs.load(tmp_path / "runs"), tmp_path / "rep", title="t", store_dir=None, n_boot=10)
    header = next(
        line
        for line in (tmp_path / "rep" / "tables" / "main.md").read_text().splitlines()
        if "| target" in line
    )
    assert "gsm8k" in header and "olympiadbench" in header and "average" in header


def test_openrlhf_eval_labels_grade_benchmarks_by_their_rules(tmp_path):
    from saerl.rl.openrlhf.reward import export_evals, score_one

    records = load("olympiadbench", tmp_path)
    out = tmp_path / "evals.jsonl"
    assert export_evals({"olympiadbench": records}, out, "math", benchmarks=["olympiadbench"]) == 2
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert json.loads(rows[1]["label"]) == {
        "id": "eval:olympiadbench:1607",
        "answer": "5",
        "grader": "benchmark",
        "unit": "cm",
    }
    prompt = rows[1]["prompt"]
    scored = score_one(prompt + "so \\boxed{5 \\text{ cm}}<|im_end|>", prompt, rows[1]["label"])
    assert (scored.reward, scored.id, scored.timed_out) == (1.0, "eval:olympiadbench:1607", False)
    assert score_one(rows[0]["prompt"] + "\\boxed{3}", rows[0]["prompt"], rows[0]["label"])[0] == 0.0
    assert score_one(rows[0]["prompt"] + "\\boxed{-3, 3}", rows[0]["prompt"], rows[0]["label"])[0] == 1.0


def test_the_answer_instruction_reaches_every_prompt_a_model_answers(tmp_path):
    import pyarrow as pa

    from saerl.config import load_experiment
    from saerl.data.benchmarks import ANSWER_INSTRUCTION
    from saerl.launch.graph import StageGraph
    from saerl.rl.openrlhf.reward import export_prompts
    from saerl.rl.trl_backend import curriculum_dataset

    table = pa.table({"id": ["a"], "prompt": ["1+1?"], "answer": ["2"]})
    assert (
        curriculum_dataset(table, ANSWER_INSTRUCTION)["prompt"][0][0]["content"]
        == f"1+1?\n{ANSWER_INSTRUCTION}"
    )
    assert curriculum_dataset(table)["prompt"][0][0]["content"] == "1+1?"
    export_prompts(table, tmp_path / "p.jsonl", "math", ANSWER_INSTRUCTION)
    assert json.loads((tmp_path / "p.jsonl").read_text())["prompt"] == f"1+1?\n{ANSWER_INSTRUCTION}"
    store = f"store_dir={tmp_path / 'store'}"
    plain = StageGraph(load_experiment(overrides=[store]))
    told = StageGraph(load_experiment(overrides=[store, "rl.instruction=Box it."]))
    # the labels are asked what the target is asked; the SAE's inputs do not change
    assert told.labels("train", 600).config["instruction"] == "Box it."
    assert told.labels("train", 600).key != plain.labels("train", 600).key
    assert told.features.key == plain.features.key and told.eval0.key != plain.eval0.key


def test_the_hub_path_picks_the_named_split_or_a_mirrors_only_one(tmp_path, monkeypatch):
    """`load_benchmark(name)` without a file reads the hub id through `datasets.load_dataset`; a local
    dataset folder stands in for the hub here (the same call, offline)."""
    import dataclasses

    from saerl.data import benchmarks

    one = tmp_path / "one"
    one.mkdir()
    write_jsonl(one / "train.jsonl", FIXTURES["amc23"])  # a mirror whose only split is 'train'
    two = tmp_path / "two"
    two.mkdir()
    for split in ("train", "validation"):
        write_jsonl(two / f"{split}.jsonl", FIXTURES["amc23"])
    amc = benchmarks.BENCHMARKS["amc23"]  # split 'test'
    monkeypatch.setitem(benchmarks.BENCHMARKS, "amc23", dataclasses.replace(amc, hub_id=str(one)))
    records, _ = load_benchmark("amc23")
    assert [r.answer for r in records] == ["27", "0.5"]
    monkeypatch.setitem(benchmarks.BENCHMARKS, "amc23", dataclasses.replace(amc, hub_id=str(two)))
    with pytest.raises(DataError, match=r"no split 'test'; it has \['train', 'validation'\]"):
        load_benchmark("amc23")
    monkeypatch.setitem(
        benchmarks.BENCHMARKS, "amc23", dataclasses.replace(amc, hub_id=str(tmp_path / "gone"))
    )
    with pytest.raises(DataError, match=r"benchmark amc23 .*: cannot read"):
        load_benchmark("amc23")
