"""Answer grading shared by rollout labelling, rewards and evaluation.

Two graders: 'int' (the miniature: the integer after the last '####' must equal the reference)
and 'math' (math-verify: symbolic equivalence, \\boxed{} and fractions understood). Graders never
raise on model output: an unparseable completion is simply wrong.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

from saerl.data.answers import (
    as_number,
    clean,
    close,
    e_notation_gold,
    final_boxes,
    interval_of_inequality,
    is_prose,
    leading_math,
    looks_like_interval,
    percent_free,
    strip_math_delimiters,
)

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

    The prediction is the text after '####' when present, else the completion's last \\boxed{} (of
    its final sentence), else the whole completion (math-verify then looks for the last expression
    itself). Both sides lose the typesetting that carries no value first (saerl.data.answers), and
    a reference in e-notation is compared as a number.
    """
    pred_text = final_answer_text(completion)
    if pred_text is None:
        boxes = final_boxes(completion)
        pred_text = boxes[-1] if boxes else None
    if pred_text is None:
        return _verify(_gold_text(reference), completion)
    return equivalent(pred_text, reference)


def equivalent(prediction: str, gold: str, unit: str = "") -> bool:
    """One predicted answer (no box around it) against one gold answer; ``unit``: the gold's unit,
    which a prediction may write or leave out."""
    if (value := e_notation_gold(gold)) is not None:
        number = as_number(_without_unit(prediction, unit))
        return number is not None and close(number, value)
    if is_prose(gold):  # graded on the mathematics it states, whether or not the prose is repeated
        gold, prediction = leading_math(gold), leading_math(strip_math_delimiters(prediction))
    gold_clean = clean(strip_math_delimiters(gold))
    pred = clean(strip_math_delimiters(_without_unit(prediction, unit)))
    if "%" in gold_clean or unit.strip() in ("%", "\\%"):
        gold_clean, pred = percent_free(gold_clean), percent_free(pred)
    if looks_like_interval(gold_clean) and (interval := interval_of_inequality(pred)):
        pred = interval
    if not pred or not gold_clean:
        return False
    return _verify(f"${gold_clean}$", f"${pred}$")


def _without_unit(prediction: str, unit: str) -> str:
    unit = unit.strip()
    if not unit or unit in ("%", "\\%"):
        return prediction
    for form in (f"\\text{{ {unit}}}", f"\\text{{{unit}}}", f"\\mathrm{{{unit}}}", f"\\mathrm{{~{unit}}}"):
        prediction = prediction.replace(form, "")
    return prediction.replace(unit, "") if prediction.rstrip().endswith(unit) else prediction


def _gold_text(reference: str) -> str:
    gold = clean(strip_math_delimiters(reference))
    return f"${gold}$"


def _verify(gold_text: str, pred_text: str) -> bool:
    from math_verify import parse, verify  # lazy: pulls sympy

    # math-verify's timeouts use SIGALRM, which only works on the main thread (other threads: grade
    # through saerl.data.grading_pool.grade_limited).
    on_main = threading.current_thread() is threading.main_thread()
    timeout = MATH_VERIFY_TIMEOUT_S if on_main else None
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
