"""The one reward shared by every RL backend: 1.0 if the completion's final answer grades correct,
else 0.0. Format failures (no '####', unparseable text, a crash in the grader) score 0, never raise."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from saerl.data.grading import get_grader

log = logging.getLogger(__name__)


def score(completion: Any, reference: Any, grader: Callable[[str, str], bool]) -> float:
    if not isinstance(completion, str) or not isinstance(reference, str):
        return 0.0
    try:
        return 1.0 if grader(completion, reference) else 0.0
    except Exception:  # a reward must never take a run down; log it and score the sample 0
        log.warning("grader raised on a completion; scored 0", exc_info=True)
        return 0.0


def completion_text(completion: Any) -> Any:
    """TRL passes strings for plain prompts and message lists for conversational ones."""
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return completion[-1].get("content", "")
    return completion


def make_reward(grader_kind: str) -> Callable[..., list[float]]:
    """A TRL-style reward function: f(prompts, completions, answer=[...], **columns) -> rewards."""
    grader = get_grader(grader_kind)

    def correctness(
        prompts: Sequence[Any], completions: Sequence[Any], answer: Sequence[str], **_: Any
    ) -> list[float]:
        return [score(completion_text(c), a, grader) for c, a in zip(completions, answer, strict=True)]

    correctness.__name__ = f"correct_{grader_kind}"
    return correctness
