"""The reward file handed to OpenRLHF (`--reward.remote_url <this file>`), and the curriculum export
in OpenRLHF's prompt format.

OpenRLHF 0.11.2 calls ``reward_func(queries, prompts, labels)`` inside its vLLM engine actors, in a
worker thread, once per sample, with ``query`` = prompt + response decoded *with* special tokens.
It swallows exceptions (the sample then gets no reward), so this function never raises: anything
malformed scores 0. It imports only saerl's grading (and torch, which OpenRLHF's environment has);
the grader uses no signal-based timeout off the main thread.

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
from typing import Any

from saerl.data.grading import get_grader

_SPECIAL = re.compile(r"<\|[^|>]{1,40}\|>|</s>|<s>|<eos>|<pad>")
_LOCK = threading.Lock()


def label_for(record_id: str, answer: str, grader: str, unit: str = "") -> str:
    label = {"id": record_id, "answer": answer, "grader": grader} | ({"unit": unit} if unit else {})
    return json.dumps(label, sort_keys=True)


def response_of(query: str, prompt: str) -> str:
    """The model's response: the query after its prompt, special tokens removed."""
    text = query[len(prompt) :] if query.startswith(prompt) else query
    return _SPECIAL.sub("", text)


def score_one(query: Any, prompt: Any, label: Any) -> tuple[float, str]:
    """(reward in {0, 1}, record id); malformed input of any kind scores 0."""
    try:
        meta = json.loads(label)
        response = response_of(str(query), str(prompt))
        if meta.get("grader") == "benchmark":
            from saerl.data.benchmarks import grade
            from saerl.data.records import Record

            record = Record(
                str(meta.get("id", "")), "", str(meta["answer"]), meta={"unit": meta.get("unit", "")}
            )
            return (1.0 if grade(response, record) else 0.0), record.id
        grader = get_grader(meta.get("grader", "math"))
        return (1.0 if grader(response, str(meta["answer"])) else 0.0), str(meta.get("id", ""))
    except Exception:
        return 0.0, ""


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
    _log_order([i for _, i in scored])
    rewards = torch.tensor([r for r, _ in scored], dtype=torch.float32)
    return {"rewards": rewards, "scores": rewards.clone(), "extra_logs": {"correct": rewards.clone()}}


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
