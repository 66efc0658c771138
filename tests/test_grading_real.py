"""Grading on real benchmark rows (tests/fixtures/benchmarks, sources in its README): every gold,
written as a model writes it, grades correct; its equivalent forms grade correct; wrong answers do
not. The full files' figures are in docs/tools.md (`python -m saerl.data.grading_audit`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from saerl.data.benchmarks import MULTI_SEPARATOR, grade, load_benchmark
from saerl.data.grading import grade_math
from saerl.data.grading_audit import as_written, audit

FIXTURES = Path(__file__).parent / "fixtures" / "benchmarks"


def records(name: str) -> dict[str, object]:
    recs, report = load_benchmark(name, str(FIXTURES / f"{name}.jsonl"))
    assert report.kept == report.rows, report.summary()
    return {r.id: r for r in recs}


def test_the_evaluation_harness_copy_of_minerva_reads_its_answer_from_the_solutions_last_box():
    minerva = records("minerva")
    assert len(minerva) == 6 and all(r.answer for r in minerva.values())
    assert minerva["0"].answer == "1.6"  # the first row: "... = \boxed{1.6} cm"
    assert any("e" in r.answer for r in minerva.values())  # e-notation golds among them


def test_a_file_without_an_answer_column_names_what_it_found_and_expected(tmp_path):
    from saerl.data.benchmarks import build_benchmarks
    from saerl.data.records import DataError

    src = tmp_path / "minerva.jsonl"
    src.write_text('{"problem": "p", "type": "t", "idx": 0}\n')

    from types import SimpleNamespace

    ctx = SimpleNamespace(path=tmp_path, info={})

    with pytest.raises(
        DataError, match=r"no usable rows; columns found: problem, type, idx; expected: question"
    ):
        build_benchmarks(ctx, {"benchmarks": {"minerva": str(src)}}, {}, "cpu")


@pytest.mark.parametrize(
    ("name", "rid", "completion"),
    [
        # escaped dollars in the gold (MATH-500)
        ("math500", "test/algebra/2626.json", "\\boxed{\\$32,\\!348}"),
        ("math500", "test/algebra/2626.json", "\\boxed{32348}"),
        ("math500", "test/algebra/2626.json", "\\boxed{32,348}"),
        ("math500", "test/algebra/2780.json", "\\boxed{18.90}"),
        ("math500", "test/prealgebra/1203.json", "The answer is \\boxed{\\$36}."),
        # degrees and intervals
        ("math500", "test/precalculus/927.json", "\\boxed{90}"),
        ("math500", "test/precalculus/927.json", "\\boxed{90°}"),
        ("math500", "test/intermediate_algebra/183.json", "\\boxed{x > 2}"),
        # $..$, $..$ blocks, not flagged multiple (OlympiadBench 1687)
        ("olympiadbench", "1687", "\\boxed{f(n)=n, g(n)=1}"),
        ("olympiadbench", "1687", "So \\boxed{f(n)=n} and \\boxed{g(n)=1}."),
        # several answers: set notation, text or, one box each
        ("olympiadbench", "1664", "\\boxed{\\{69, 84\\}}"),
        ("olympiadbench", "1664", "\\boxed{69 \\text{ or } 84}"),
        ("olympiadbench", "1664", "\\boxed{n \\in \\{84, 69\\}}"),
        ("olympiadbench", "1664", "The values are \\boxed{84} and \\boxed{69}."),
        ("olympiadbench", "2349", "\\boxed{221, 8}"),
        # a unit written by the model, where the gold has it in its own column
        ("olympiadbench", "2253", "\\boxed{45 \\text{ minutes}}"),
        ("olympiadbench", "2253", "\\boxed{45\\ \\text{minute}}"),
        # a prose gold is one answer, graded on its mathematics
        ("olympiadbench", "1965", "\\boxed{f(x)=a x+b}"),
    ],
)
def test_equivalent_forms_of_real_golds_are_accepted(name, rid, completion):
    assert grade(completion, records(name)[rid]), (name, rid, completion)


@pytest.mark.parametrize(
    ("name", "rid", "completion"),
    [
        ("math500", "test/algebra/2626.json", "\\boxed{32349}"),
        ("math500", "test/algebra/2626.json", "\\boxed{32}"),
        ("math500", "test/prealgebra/1203.json", "\\boxed{37}"),
        ("math500", "test/intermediate_algebra/183.json", "\\boxed{x < 2}"),
        ("olympiadbench", "1687", "\\boxed{1}"),  # was accepted: the gold parsed as garbage
        ("olympiadbench", "1664", "\\boxed{69}"),  # one answer of two
        ("olympiadbench", "1664", "\\boxed{\\{69, 84, 85\\}}"),
        ("olympiadbench", "2253", "\\boxed{46 \\text{ minutes}}"),
        ("olympiadbench", "1965", "\\boxed{f(x)=x^2}"),
    ],
)
def test_wrong_answers_to_real_golds_are_rejected(name, rid, completion):
    assert not grade(completion, records(name)[rid]), (name, rid, completion)


def test_e_notation_golds_mean_powers_of_ten_within_the_stated_tolerance():
    """Minerva's `7e37`-style golds: math-verify would read e as Euler's number."""
    for gold, right, wrong in [
        (
            "7e37",
            ["7 \\times 10^{37}", "7E37", "7.0e37", "7\\cdot10^{37}", "7.05 \\times 10^{37}"],
            ["259e", "7e36", "1.4e38"],
        ),
        ("1e-3", ["0.001", "10^{-3}", "1 \\times 10^{-3}"], ["0.002", "1e3"]),
        ("1.4903e4", ["14903", "1.49 \\times 10^{4}", "14{,}900"], ["1.6e4", "2.98e4"]),
    ]:
        for text in right:
            assert grade_math(f"\\boxed{{{text}}}", gold), (gold, text)
        for text in wrong:
            assert not grade_math(f"\\boxed{{{text}}}", gold), (gold, text)


def test_every_real_gold_written_as_a_model_writes_it_grades_correct():
    for name in ("gsm8k", "math500", "aime24", "aime25", "amc23", "minerva", "olympiadbench"):
        for r in records(name).values():
            assert grade(as_written(r.answer.split(MULTI_SEPARATOR)), r), (name, r.id, r.answer)


def test_the_audit_tool_reads_a_folder_and_finds_no_false_positive():
    results = audit(FIXTURES)
    assert set(results) == {"gsm8k", "math500", "aime24", "aime25", "amc23", "minerva", "olympiadbench"}
    for name, r in results.items():
        assert r["gold_correct"] == r["loaded"] and r["false_positives"] == [], name
        assert all(v["accepted"] == v["tried"] for v in r["equivalent_forms"].values()), name
