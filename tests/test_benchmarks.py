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
    from saerl.data.benchmarks import split_top_level

    assert split_top_level("$3$, $-3$") == ["$3$", "$-3$"]
    assert split_top_level("$(1,2)$, $(3,4)$") == ["$(1,2)$", "$(3,4)$"]
    assert split_top_level("(1, 2), [3, 4]; \\{5, 6\\}") == ["(1, 2)", "[3, 4]", "\\{5, 6\\}"]
    assert split_top_level("\\frac{1,2}{3}") == ["\\frac{1,2}{3}"]
