import pytest

from saerl.data.grading import final_answer_text, get_grader, grade_int, grade_math, resolve_grader_kind


@pytest.mark.parametrize(
    ("completion", "reference", "expected"),
    [
        ("7+8=15 w5 c1 #### 85", "85", True),
        ("#### 1,024", "1024", True),
        ("#### -3", "-3", True),
        ("#### 84", "85", False),
        ("#### 12 #### 85", "85", True),  # the last marker counts
        ("85", "85", False),  # no marker: format failure scores 0
        ("#### eighty-five", "85", False),
        ("", "85", False),
        ("#### 85", "not a number", False),  # garbled reference never matches
    ],
)
def test_grade_int(completion, reference, expected):
    assert grade_int(completion, reference) is expected


@pytest.mark.parametrize(
    ("completion", "reference", "expected"),
    [
        ("so the answer is \\boxed{\\frac{1}{2}}", "\\frac{1}{2}", True),
        ("\\boxed{2/4}", "\\frac{1}{2}", True),
        ("\\boxed{0.5}", "1/2", True),
        ("#### 3/4", "\\frac{3}{4}", True),
        ("\\boxed{\\frac{3}{5}}", "\\frac{3}{4}", False),
        ("The result is $\\boxed{\\sqrt{8}}$", "2\\sqrt{2}", True),
        ("\\boxed{x^2+2x+1}", "(x+1)^2", True),
        ("#### 42", "42", True),
        ("#### 41", "42", False),
        ("}}}{{{\\\\ garbage \\frac{", "1", False),
        ("", "\\frac{1}{2}", False),
    ],
)
def test_grade_math_with_math_verify(completion, reference, expected):
    assert grade_math(completion, reference) is expected


def test_grade_math_works_off_the_main_thread():
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(grade_math, "\\boxed{\\frac{2}{4}}", "\\frac{1}{2}").result() is True


def test_grader_selection():
    assert get_grader("int") is grade_int
    assert resolve_grader_kind("auto", "arith") == "int"
    assert resolve_grader_kind("auto", "deepmath.jsonl") == "math"
    with pytest.raises(ValueError, match="grader"):
        get_grader("fuzzy")
    assert final_answer_text("a #### b #### c ") == "c"
    assert final_answer_text("none") is None
