"""Audit the benchmark grader on the real benchmark files (`python -m saerl.data.grading_audit
--data <folder>`): for every problem of each set, the gold answer written as a model writes it
(`The answer is \\boxed{...}.`) must grade correct; wrong answers must not; equivalent forms of the
gold (degrees, percent, spaced thousands, units, set notation, an inequality for an interval, e
notation written with powers of ten, answers boxed one by one) must grade correct.

<folder> holds one file per set, in any layout `load_benchmark` reads: gsm8k, math500, aime24,
aime25, amc23, minerva (or minerva_math), olympiadbench (.jsonl/.json/.parquet). Writes the
table to stdout (and --out as JSON).
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from saerl.data.answers import as_number, e_notation_gold, looks_like_interval, strip_math_delimiters
from saerl.data.benchmarks import BENCHMARKS, MULTI_SEPARATOR, grade, load_benchmark
from saerl.data.records import Record

ALIASES = {"minerva": ("minerva", "minerva_math"), "olympiadbench": ("olympiadbench", "olympiad_bench")}


def as_written(answers: list[str]) -> str:
    """The gold as a model writes it: the answers in one box, comma separated."""
    return "The answer is \\boxed{" + ", ".join(strip_math_delimiters(a) for a in answers) + "}."


def wrong_answers(record: Record, others: list[str]) -> Iterator[str]:
    """Answers that are wrong: a number off by one or by a factor of ten, another problem's gold."""
    answers = record.answer.split(MULTI_SEPARATOR)
    if len(answers) == 1 and (number := _number(answers[0])) is not None:
        scale = e_notation_gold(answers[0]) is not None
        for wrong in (number * 2, number * 10) if scale else (number + 1, number * 10, -number - 1):
            if wrong != number:
                yield _fmt(wrong)
    gold = set(answers)
    for other in others:
        if set(other.split(MULTI_SEPARATOR)) != gold and not _same_number(other, answers):
            yield ", ".join(strip_math_delimiters(a) for a in other.split(MULTI_SEPARATOR))
            break


def _number(text: str) -> float | None:
    value = e_notation_gold(text)
    return value if value is not None else as_number(text)


def _same_number(other: str, answers: list[str]) -> bool:
    other = re.sub(r"^\s*[A-Za-z]\s*=\s*", "", strip_math_delimiters(other))  # "x=5" is 5
    a, b = _number(other), (_number(answers[0]) if len(answers) == 1 else None)
    return a is not None and b is not None and abs(a - b) <= 1e-9 * max(1.0, abs(b))


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:.6g}"


def equivalent_forms(record: Record) -> Iterator[tuple[str, str]]:
    """(class, completion) of equivalent ways to write the gold, where the class applies."""
    answers = [strip_math_delimiters(a) for a in record.answer.split(MULTI_SEPARATOR)]
    unit = str(record.meta.get("unit") or "").strip()
    if len(answers) > 1:
        yield "set notation", "So the answers are \\boxed{\\{" + ", ".join(answers) + "\\}}."
        yield (
            "one box each",
            "So " + ", ".join(f"\\boxed{{{a}}}" for a in answers[:-1]) + f" and \\boxed{{{answers[-1]}}}.",
        )
        yield "text or", "\\boxed{" + " \\text{ or } ".join(answers) + "}"
        return
    gold = answers[0]
    if (value := e_notation_gold(gold)) is not None:
        mantissa, _, exponent = f"{value:.6e}".partition("e")
        m = mantissa.rstrip("0").rstrip(".")
        yield "e-notation as power of ten", f"\\boxed{{{m} \\times 10^{{{int(exponent)}}}}}"
        yield "e-notation upper case", f"\\boxed{{{gold.upper()}}}"
        return
    number = as_number(gold)
    if number is not None and float(number).is_integer() and abs(number) >= 1000:
        digits = _fmt(number)
        spaced = re.sub(r"(?<=\d)(?=(\d{3})+$)", "\\\\,", digits)
        yield "thin-space thousands", f"\\boxed{{{spaced}}}"
    if number is not None and unit in ("", "^{\\circ}", "°"):
        yield "degrees", f"\\boxed{{{gold}^\\circ}}"
    if unit == "%":
        yield "percent unit", f"\\boxed{{{gold}\\%}}"
    elif unit and number is not None:
        yield "unit written", f"\\boxed{{{gold}\\ \\text{{{unit}}}}}"
    if looks_like_interval(gold) and (bound := re.fullmatch(r"\(([^()\[\],]+),\s*\\infty\)", gold.strip())):
        yield "inequality for interval", f"\\boxed{{x > {bound.group(1)}}}"


def files_in(folder: Path) -> dict[str, Path]:
    found = {}
    for name in BENCHMARKS:
        for stem in ALIASES.get(name, (name,)):
            for suffix in (".jsonl", ".json", ".parquet"):
                if (folder / f"{stem}{suffix}").is_file():
                    found[name] = folder / f"{stem}{suffix}"
    return found


def audit(folder: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, path in files_in(folder).items():
        records, report = load_benchmark(name, str(path))
        golds = [r.answer for r in records]
        row: dict[str, Any] = {
            "file": str(path),
            "rows": report.rows,
            "loaded": len(records),
            "skipped": dict(report.skipped),
        }
        wrong_gold = [r.id for r in records if not grade(as_written(r.answer.split(MULTI_SEPARATOR)), r)]
        row["gold_correct"] = len(records) - len(wrong_gold)
        row["gold_failures"] = wrong_gold[:20]
        n_wrong, accepted = 0, []
        for i, r in enumerate(records):
            for w in wrong_answers(r, golds[i + 1 :] + golds[:i]):
                n_wrong += 1
                if grade(f"The answer is \\boxed{{{w}}}.", r):
                    accepted.append((r.id, r.answer, w))
        row["wrong_answers"], row["false_positives"] = n_wrong, accepted[:20]
        forms: dict[str, list[int]] = {}
        for r in records:
            for kind, completion in equivalent_forms(r):
                ok = grade(completion, r)
                stats = forms.setdefault(kind, [0, 0])
                stats[0] += 1
                stats[1] += int(ok)
        row["equivalent_forms"] = {k: {"tried": v[0], "accepted": v[1]} for k, v in sorted(forms.items())}
        out[name] = row
    return out


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "| set | rows | loaded | gold graded correct | wrong answers tried | accepted (false positives) |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['rows']} | {r['loaded']} | {r['gold_correct']} / {r['loaded']} "
            f"| {r['wrong_answers']} | {len(r['false_positives'])} |"
        )
    forms: dict[str, list[int]] = {}
    for r in results.values():
        for kind, v in r["equivalent_forms"].items():
            acc = forms.setdefault(kind, [0, 0])
            acc[0] += v["tried"]
            acc[1] += v["accepted"]
    lines += ["", "| equivalent form | tried | accepted |", "|---|---|---|"]
    lines += [f"| {k} | {v[0]} | {v[1]} |" for k, v in sorted(forms.items())]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder with the benchmark files")
    parser.add_argument("--out", type=Path, default=None, help="write the full results as JSON here")
    args = parser.parse_args(argv)
    results = audit(args.data)
    if not results:
        raise SystemExit(f"{args.data}: no benchmark file ({', '.join(BENCHMARKS)}) found")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
    print(markdown(results))
    for name, r in results.items():
        for failure in r["gold_failures"][:5]:
            print(f"{name}: gold not graded correct: {failure}")
        for fp in r["false_positives"][:5]:
            print(f"{name}: wrong answer accepted: {fp}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
