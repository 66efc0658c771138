"""Answer grading shared by rollout labelling, rewards and evaluation.

Two graders: 'int' (the miniature: the integer after the last '####' must equal the reference)
and 'math' (math-verify: symbolic equivalence, \\boxed{} and fractions understood). Graders never
raise on model output: an unparseable completion is simply wrong.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

FINAL_MARKER = "####"
_INT_AFTER_MARKER = re.compile(r"####\s*(-?\d[\d,]*)")
_INT = re.compile(r"\s*-?\d+\s*")

Grader = Callable[[str, str], bool]

MATH_VERIFY_TIMEOUT_S: int | None = 5
"""math-verify's own limit per parse / comparison on a main thread (SIGALRM). None in the grading
workers of saerl.data.grading_pool, whose parent enforces (and counts) one limit per item."""


def final_answer_text(completion: str) -> str | None:
    """The text after the last '####', or None when the marker is absent."""
    if FINAL_MARKER not in completion:
        return None
    return completion.rsplit(FINAL_MARKER, 1)[1].strip()


def grade_int(completion: str, reference: str) -> bool:
    """Exact integer match of the number after the last '####' (commas allowed)."""
    if not _INT.fullmatch(reference):
        return False
    found = _INT_AFTER_MARKER.findall(completion)
    if not found:
        return False
    return int(found[-1].replace(",", "")) == int(reference)


def grade_math(completion: str, reference: str) -> bool:
    """math-verify equivalence between the reference and the completion's final answer.

    The prediction is the text after '####' when present, else the whole completion (math-verify
    then looks for \\boxed{} and the last expression itself).
    """
    from math_verify import parse, verify  # lazy: pulls sympy

    # math-verify's timeouts use SIGALRM, which only works on the main thread (other threads: grade
    # through saerl.data.grading_pool.grade_limited).
    on_main = threading.current_thread() is threading.main_thread()
    timeout = MATH_VERIFY_TIMEOUT_S if on_main else None
    gold_text = reference if "$" in reference or "\\boxed" in reference else f"${reference}$"
    pred_text = final_answer_text(completion)
    pred_text = completion if pred_text is None else pred_text
    try:
        gold = parse(gold_text, parsing_timeout=timeout)
        pred = parse(pred_text, parsing_timeout=timeout)
        if not gold or not pred:
            return False
        return bool(verify(gold, pred, timeout_seconds=timeout))
    except Exception:  # math-verify/sympy can fail in many ways on garbage; garbage is wrong
        return False


def get_grader(kind: str) -> Grader:
    """'int' or 'math'."""
    graders: dict[str, Grader] = {"int": grade_int, "math": grade_math}
    if kind not in graders:
        raise ValueError(f"grader: expected one of {sorted(graders)}, got {kind!r}")
    return graders[kind]


def resolve_grader_kind(kind: str, source: str) -> str:
    """'auto' means 'int' for the miniature and 'math' for real datasets."""
    if kind != "auto":
        return kind
    return "int" if source == "arith" else "math"
