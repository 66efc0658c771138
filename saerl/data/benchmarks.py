"""The six math benchmarks of the paper's evaluation, as named eval sets.

Each benchmark reads its published columns (from its dataset card) from the hub, when a hub is
reachable, or from a local copy of the same file (jsonl, json, parquet, csv, or a save_to_disk
folder), and becomes saerl `Record`s whose `answer` the math grader (math-verify) compares with a
completion's final answer. Multiple-answer problems (OlympiadBench) keep every answer, and a
completion must give all of them (in any order); a unit (OlympiadBench's `unit` column) is stripped
from the prediction before grading, since the reference answers carry none.

| name | hub id (config, split) | columns read |
|---|---|---|
| gsm8k | openai/gsm8k (main, test) | question, answer ("... #### 72") |
| math500 | HuggingFaceH4/MATH-500 (test) | problem, answer, subject, level, unique_id |
| aime24 | HuggingFaceH4/aime_2024 (train) | id, problem, answer |
| aime25 | math-ai/aime25 (test) | id, problem, answer |
| amc23 | math-ai/amc23 (test) | id, question, answer (a float: 27.0) |
| minerva | math-ai/minervamath (test) | question, answer |
| olympiadbench | Hothan/OlympiadBench (OE_TO_maths_en_COMP, train) | id, question, final_answer |

(OlympiadBench also: is_multiple_answer, unit; final_answer is a list of `$...$` strings.)

Scores: greedy accuracy on every set; avg@k (the mean pass rate over k samples at a temperature)
on the small ones (AIME, AMC: 30-40 problems, where one greedy pass is too noisy), as the paper's
tables report them. `score` computes both from completions; generating them is the caller's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from saerl.data.answers import final_boxes, gold_answers, predicted_answers
from saerl.data.config import DataConfig
from saerl.data.grading import equivalent, grade_math
from saerl.data.loaders import Mapped, Row, _read_rows, last_boxed, map_rows, read_jsonl
from saerl.data.records import DataError, LoadReport, Record, instructed, read_records, write_records
from saerl.store import Artifact, BuildContext

VERSION = "1"  # the benchmarks stage: bump when the records a config produces change

ANSWER_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
"""Appended to every benchmark prompt (the instruction the Qwen2.5-Math evaluations use)."""
MULTI_SEPARATOR = " ; "
"""Joins the answers of a multiple-answer problem in `Record.answer` (never inside an answer)."""


@dataclass(frozen=True)
class Benchmark:
    name: str
    hub_id: str
    config: str | None
    split: str
    samples: int
    """k of avg@k (1: greedy accuracy only)."""
    mapper: Callable[[Row], Mapped | str]
    expects: str = ""
    """The layouts read, as columns (for the error when a file has none of them)."""


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # AMC's 27.0 -> "27"
    return str(value).strip()


def _strip_dollars(answer: str) -> str:
    answer = answer.strip()
    return answer[1:-1].strip() if len(answer) > 1 and answer[0] == answer[-1] == "$" else answer


def _gsm8k(row: Row) -> Mapped | str:
    full = row.get("answer")
    if not isinstance(full, str) or "####" not in full:
        return "no_final_answer_marker"
    return {"prompt": row.get("question"), "answer": full.rpartition("####")[2].strip().replace(",", "")}


def _math500(row: Row) -> Mapped | str:
    answer = _text(row.get("answer"))
    if not answer and isinstance(row.get("solution"), str):
        answer = last_boxed(row["solution"])
    if not answer:
        return "missing_answer"
    meta = {"subject": row.get("subject"), "level": row.get("level")}
    return {"id": row.get("unique_id"), "prompt": row.get("problem"), "answer": answer, "meta": meta}


def _statement(row: Row) -> Any:
    """The problem text: 'problem' or 'question' (copies of one benchmark differ in the name)."""
    return row.get("problem") if row.get("problem") is not None else row.get("question")


def _problem_answer(row: Row) -> Mapped | str:
    """AIME 2024/2025: id, problem, answer (an integer 0-999, as text or a number)."""
    answer = _text(row.get("answer"))
    if not answer:
        return "missing_answer"
    return {"id": _text(row.get("id")), "prompt": _statement(row), "answer": answer}


def _question_answer(row: Row) -> Mapped | str:
    """AMC 2023 (id, question, answer as a float) and Minerva Math: the hub copy (question, answer)
    or the evaluation-harness copy (problem, solution, type, idx), whose answer is the last
    \\boxed{} of the solution, as the reference evaluation reads it."""
    answer = _text(row.get("answer"))
    if not answer and isinstance(row.get("solution"), str):
        answer = last_boxed(row["solution"])
    if not answer:
        return "missing_answer"
    rid = _text(row.get("id")) if row.get("id") is not None else _text(row.get("idx"))
    return {"id": rid, "prompt": _statement(row), "answer": _strip_dollars(answer)}


def _olympiad(row: Row) -> Mapped | str:
    finals = row.get("final_answer")
    if isinstance(finals, str):
        finals = [finals]
    if not isinstance(finals, (list, tuple)) or not finals:
        return "missing_answer"
    texts = [str(a).strip() for a in finals if str(a).strip()]
    if not texts:
        return "missing_answer"
    multiple = bool(row.get("is_multiple_answer")) or len(texts) > 1
    # One string may hold several answers ("$3$, $-3$"; "$f(n)=n$, $g(n)=1$" even when not flagged);
    # a prose answer stays one answer.
    answers = [a for text in texts for a in gold_answers(text, multiple)]
    meta = {
        "unit": _text(row.get("unit")) or "",
        "multiple": len(answers) > 1,
        "subfield": row.get("subfield"),
    }
    return {
        "id": _text(row.get("id")),
        "prompt": row.get("question"),
        "answer": MULTI_SEPARATOR.join(answers),
        "meta": meta,
    }


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark("gsm8k", "openai/gsm8k", "main", "test", 1, _gsm8k, "question, answer ('... #### n')"),
        Benchmark(
            "math500",
            "HuggingFaceH4/MATH-500",
            None,
            "test",
            1,
            _math500,
            "problem with answer, or with a solution holding \\boxed{}",
        ),
        Benchmark(
            "aime24",
            "HuggingFaceH4/aime_2024",
            None,
            "train",
            16,
            _problem_answer,
            "problem or question, answer",
        ),
        Benchmark(
            "aime25", "math-ai/aime25", None, "test", 16, _problem_answer, "problem or question, answer"
        ),
        Benchmark(
            "amc23", "math-ai/amc23", None, "test", 16, _question_answer, "question or problem, answer"
        ),
        Benchmark(
            "minerva",
            "math-ai/minervamath",
            None,
            "test",
            1,
            _question_answer,
            "question, answer (hub) or problem, solution holding \\boxed{} (evaluation harness)",
        ),
        Benchmark(
            "olympiadbench",
            "Hothan/OlympiadBench",
            "OE_TO_maths_en_COMP",
            "train",
            1,
            _olympiad,
            "question, final_answer (a list), is_multiple_answer, unit",
        ),
    )
}


def benchmark(name: str) -> Benchmark:
    if name not in BENCHMARKS:
        raise DataError(f"benchmark {name!r}: choose from {sorted(BENCHMARKS)}")
    return BENCHMARKS[name]


def load_benchmark(name: str, source: str | None = None) -> tuple[list[Record], LoadReport]:
    """The benchmark's problems as records. ``source``: a local file or folder in the published
    columns; None reads the hub id (needs a reachable hub). Bad rows are skipped and counted by reason."""
    b = benchmark(name)
    where = source or b.hub_id
    path = Path(where)
    if path.is_file() and path.suffix.lower() == ".jsonl":
        rows, lines, columns = read_jsonl(path)
        records, report = map_rows(
            rows, b.mapper, DataConfig(source=where), name, positions=lines, unit="lines"
        )
    elif source is None:
        table = _hub_rows(b)
        columns = list(table.column_names)
        records, report = map_rows(table, b.mapper, DataConfig(source=where), name)
    else:
        table, columns = _read_rows(where, b.split)
        records, report = map_rows(table, b.mapper, DataConfig(source=where), name)
    report.columns = list(columns)
    return records, report


def _hub_rows(b: Benchmark) -> Any:
    """The benchmark's split from the hub; a copy with one split under another name is read too
    (mirrors name their only split 'train' or 'test')."""
    import datasets

    try:
        splits = datasets.load_dataset(b.hub_id, b.config)
    except Exception as exc:  # datasets raises many types; all mean "cannot read this source"
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        raise DataError(
            f"benchmark {b.name} ({b.hub_id}): cannot read ({type(exc).__name__}: {first})"
        ) from None
    if b.split in splits:
        return splits[b.split]
    if len(splits) == 1:
        return next(iter(splits.values()))
    raise DataError(f"benchmark {b.name} ({b.hub_id}): no split {b.split!r}; it has {sorted(splits)}")


def with_instruction(prompt: str) -> str:
    """The prompt as the model sees it: the problem, then the answer-format instruction."""
    return instructed(prompt, ANSWER_INSTRUCTION)


def grade(completion: str, record: Record) -> bool:
    """The completion's final answer against the record's: the boxes of its final sentence (one
    box: its content; several, boxed one by one: each an answer), else its text after '####', else
    the whole completion (math-verify finds the last expression). For several answers (a multiple-
    answer problem), every reference must be matched by one predicted answer, in any order."""
    unit = str(record.meta.get("unit") or "")
    references = record.answer.split(MULTI_SEPARATOR)
    boxes = final_boxes(completion)
    if len(references) == 1:
        if not boxes:
            return grade_math(completion, references[0])
        return equivalent(boxes[-1], references[0], unit)
    if not boxes:
        return False
    parts = boxes if len(boxes) > 1 else predicted_answers(boxes[0])
    if len(parts) != len(references):
        return False
    unmatched = list(references)
    for part in parts:
        hit = next((r for r in unmatched if equivalent(part, r, unit)), None)
        if hit is None:
            return False
        unmatched.remove(hit)
    return True


def score(
    records: Sequence[Record], greedy: Sequence[str], samples: Sequence[Sequence[str]] | None = None
) -> dict[str, float]:
    """{'accuracy': greedy accuracy, 'avg@k': mean over problems of the pass rate of k samples}
    (the second only when samples are given)."""
    if len(greedy) != len(records):
        raise ValueError(f"score: {len(greedy)} greedy completions for {len(records)} problems")
    out = {"accuracy": sum(grade(c, r) for c, r in zip(greedy, records, strict=True)) / max(1, len(records))}
    if samples is not None:
        if len(samples) != len(records) or any(not s for s in samples):
            raise ValueError("score: every problem needs at least one sample")
        k = len(samples[0])
        rates = [sum(grade(c, r) for c in s) / len(s) for s, r in zip(samples, records, strict=True)]
        out[f"avg@{k}"] = sum(rates) / max(1, len(rates))
    return out


def build_benchmarks(
    ctx: BuildContext, params: dict[str, Any], inputs: dict[str, Artifact], device: str
) -> None:
    """The benchmarks stage: ``params['benchmarks']`` maps each name to a local source ('' = its hub
    id); writes ``<name>.jsonl`` (saerl records, the problem without the instruction)."""
    sizes, skipped = {}, {}
    for name, source in params["benchmarks"].items():
        records, report = load_benchmark(name, source or None)
        if not records:
            found = ", ".join(report.columns) or "none"
            raise DataError(
                f"benchmark {name} ({source or benchmark(name).hub_id}): no usable rows; columns found: "
                f"{found}; expected: {benchmark(name).expects}\n{report.summary()}"
            )
        write_records(ctx.path / f"{name}.jsonl", records)
        sizes[name], skipped[name] = len(records), dict(report.skipped)
    ctx.info.update(sizes=sizes, skipped=skipped)


def eval_set(artifact: Artifact, name: str, items: int) -> list[Record]:
    """The first ``items`` problems of a built benchmark, prompts with the answer instruction."""
    path = artifact.path / f"{name}.jsonl"
    if not path.exists():
        raise DataError(f"{artifact.path}: benchmark {name!r} was not built here")
    return [dataclasses.replace(r, prompt=with_instruction(r.prompt)) for r in read_records(path)[:items]]
