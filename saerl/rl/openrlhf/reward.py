"""The reward file handed to OpenRLHF (`--reward.remote_url <this file>`), and the curriculum export
in OpenRLHF's prompt format.

OpenRLHF 0.11.2 calls ``reward_func(queries, prompts, labels)`` inside its vLLM engine actors, in a
worker thread, once per sample, with ``query`` = prompt + response decoded *with* special tokens.
It swallows exceptions (the sample then gets no reward), so this function never raises: anything
malformed scores 0. It imports only saerl's grading (and torch, which OpenRLHF's environment has).
Off the main thread math-verify has no time limit of its own, so grading goes through
``saerl.data.grading_pool``: an item not graded within ``$SAERL_GRADE_TIMEOUT_S`` (``rl.
grade_timeout_s``) scores 0 and is counted (``extra_logs["grade_timeout"]``, logged by OpenRLHF
with the step's other rollout statistics). The response is graded up to the first end-of-turn
token, the same text every other generation path stops at.

Each label is JSON: {"id", "answer", "grader"} (grader "benchmark" adds "unit": a named
benchmark's own rules, ``saerl.data.benchmarks.grade``); the id of every scored sample is appended, one line
per call, to ``$SAERL_ORDER_LOG.<pid>`` when that variable is set, so the order in which the
trainer saw the prompts can be compared with the curriculum afterwards.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

_SPECIAL = re.compile(r"<\|[^|>]{1,40}\|>|</s>|<s>|<eos>|<pad>")
_TURN_END = re.compile(
    r"<\|im_end\|>|<\|eot_id\|>|<\|endoftext\|>|<\|end_of_text\|>|<\|end\|>|</s>|<eos>|<end_of_turn>"
)
"""End-of-turn / end-of-text tokens of the common chat families (Qwen, Llama 3, Phi, Gemma, ...)."""
_LOCK = threading.Lock()


def label_for(record_id: str, answer: str, grader: str, unit: str = "") -> str:
    label = {"id": record_id, "answer": answer, "grader": grader} | ({"unit": unit} if unit else {})
    return json.dumps(label, sort_keys=True)


def response_of(query: str, prompt: str) -> str:
    """The model's response: the query after its prompt, up to its first end-of-turn token (where
    generation stops; text after one was never the model's answer), special tokens removed."""
    if query.startswith(prompt):
        text = query[len(prompt) :]
        if end := _TURN_END.search(text):
            text = text[: end.start()]
    else:  # not the prompt it was asked: grade it all rather than cut at the prompt's own turn end
        text = query
    return _SPECIAL.sub("", text)


class Scored(NamedTuple):
    reward: float
    id: str
    timed_out: bool = False


def score_one(query: Any, prompt: Any, label: Any) -> Scored:
    """(reward in {0, 1}, record id, whether grading hit the time limit); malformed input of any
    kind scores 0."""
    from saerl.data.grading_pool import grade_limited

    try:
        meta = json.loads(label)
        response = response_of(str(query), str(prompt))
        kind = str(meta.get("grader", "math"))
        verdict = grade_limited(kind, response, str(meta["answer"]), str(meta.get("unit") or ""))
        return Scored(1.0 if verdict.correct else 0.0, str(meta.get("id", "")), verdict.timed_out)
    except Exception:
        return Scored(0.0, "")


def _log_order(ids: Sequence[str]) -> None:
    base = os.environ.get("SAERL_ORDER_LOG")
    if not base:
        return
    line = json.dumps({"time": time.time(), "ids": list(ids)}) + "\n"
    with _LOCK, Path(f"{base}.{os.getpid()}").open("a") as fh:
        fh.write(line)


def reward_func(
    queries: Sequence[Any], prompts: Sequence[Any], labels: Sequence[Any], **_: Any
) -> dict[str, Any]:
    """OpenRLHF's reward contract: {"rewards", "scores", "extra_logs"} as tensors."""
    import torch

    scored = [score_one(q, p, lab) for q, p, lab in zip(queries, prompts, labels, strict=False)]
    _log_order([s.id for s in scored])
    rewards = torch.tensor([s.reward for s in scored], dtype=torch.float32)
    timeouts = torch.tensor([float(s.timed_out) for s in scored], dtype=torch.float32)
    extra = {"correct": rewards.clone(), "grade_timeout": timeouts}
    return {"rewards": rewards, "scores": rewards.clone(), "extra_logs": extra}


def export_prompts(curriculum: Any, path: Path, grader: str, instruction: str = "") -> int:
    """The curriculum table, in training order, as OpenRLHF prompt rows: {"prompt", "label",
    "datasource"} (the prompt with ``instruction`` appended); returns the row count."""
    from saerl.data.records import instructed

    rows = curriculum.to_pydict()
    with path.open("w") as fh:
        for rid, prompt, answer in zip(rows["id"], rows["prompt"], rows["answer"], strict=True):
            row = {"prompt": instructed(prompt, instruction), "label": label_for(rid, answer, grader)}
            fh.write(json.dumps(row | {"datasource": "train"}))
            fh.write("\n")
    return len(rows["id"])


def export_evals(
    evals: Mapping[str, Sequence[Any]], path: Path, grader: str, benchmarks: Sequence[str] = ()
) -> int:
    """Eval sets as one OpenRLHF eval file: ``datasource`` = the set's name (OpenRLHF logs
    ``eval/eval_<datasource>_pass1``), ids ``eval:<set>:<id>`` (the order audit skips them); sets
    named in ``benchmarks`` are graded by their benchmark's rules."""
    n = 0
    with path.open("w") as fh:
        for name, records in evals.items():
            for r in records:
                kind, unit = (
                    ("benchmark", str(r.meta.get("unit") or "")) if name in benchmarks else (grader, "")
                )
                label = label_for(f"eval:{name}:{r.id}", r.answer, kind, unit)
                fh.write(json.dumps({"prompt": r.prompt, "label": label, "datasource": name}) + "\n")
                n += 1
    return n
