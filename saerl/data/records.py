"""The one record schema every stage reads, and its jsonl form."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from saerl.store import atomic_path


class DataError(ValueError):
    """A data problem a person can fix, naming the file and, where it applies, the row."""


def instructed(prompt: str, instruction: str) -> str:
    """The prompt a model answers: the problem, then the answer-format instruction (if any)."""
    return f"{prompt}\n{instruction}" if instruction else prompt


@dataclass(frozen=True)
class Record:
    id: str
    """Stable, unique id (used to join features, scores and curriculum rows)."""
    prompt: str
    """The question, as plain text (the chat template is applied later, by the consumer)."""
    answer: str
    """Reference final answer, graded by `saerl.data.grading`."""
    topic: str = ""
    """Topic/category label when the source has one."""
    source: str = ""
    """Dataset the record came from."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Everything else (difficulty, solution, noise ground truth, ...)."""


@dataclass
class LoadReport:
    """What loading a source did: rows read, kept, and skipped by reason."""

    source: str
    rows: int = 0
    kept: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[int]] = field(default_factory=dict)
    """For each skip reason, the first few row indices (or line numbers), so a person can look them up."""
    unit: str = "rows"
    """What ``examples`` count: 'rows' (0-based row index) or 'lines' (1-based line of a jsonl file)."""
    missing: Counter[str] = field(default_factory=Counter)
    """Kept rows whose optional field had a non-finite number (NaN, inf), stored as missing (None)."""
    columns: list[str] = field(default_factory=list)
    """The columns the source had (for errors naming what was found)."""

    def skip(self, reason: str, row: int) -> None:
        self.skipped[reason] += 1
        rows = self.examples.setdefault(reason, [])
        if len(rows) < 5:
            rows.append(row)

    def summary(self) -> str:
        lines = [f"{self.source}: {self.rows} rows, {self.kept} kept, {sum(self.skipped.values())} skipped"]
        for reason, n in sorted(self.skipped.items()):
            lines.append(f"  skipped {n:>6}  {reason}  (e.g. {self.unit} {self.examples[reason]})")
        for name, n in sorted(self.missing.items()):
            lines.append(f"  missing {n:>6}  {name}: not a finite number, kept as missing")
        return "\n".join(lines)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""C0 control characters other than tab, newline and carriage return (NUL among them): no prompt
or answer holds them; a tokenizer would pass them to the model as they are."""


def check_text(value: Any, name: str, max_chars: int) -> str | None:
    """Why ``value`` is not a usable text field, or None when it is."""
    if value is None:
        return f"missing_{name}"
    if not isinstance(value, str):
        return f"non_text_{name}"
    if not value.strip():
        return f"empty_{name}"
    if len(value) > max_chars:
        return f"absurd_length_{name}"
    return unclean_text(value, name)


def unclean_text(value: str, name: str) -> str | None:
    """A text that is not clean text: control characters, or code points that are not Unicode
    scalar values (a lone surrogate such as JSON's "\\ud800", which no UTF-8 file can hold)."""
    if _CONTROL.search(value):
        return f"control_characters_{name}"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return f"invalid_unicode_{name}"
    return None


def write_records(path: str | Path, records: Iterable[Record]) -> int:
    """Write records as jsonl, atomically; returns the count. Same records -> same bytes."""
    n = 0
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as fh:
        for rec in records:
            # allow_nan=False: NaN/inf are not JSON; loaders turn them into None before this point.
            fh.write(json.dumps(asdict(rec), ensure_ascii=False, sort_keys=True, allow_nan=False) + "\n")
            n += 1
    return n


def read_records(path: str | Path) -> list[Record]:
    """Read a saerl records jsonl file (as written by `write_records`)."""
    path = Path(path)
    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(f"{path}: cannot read records ({exc.strerror})") from exc
    for i, line in enumerate(lines):
        try:
            out.append(Record(**json.loads(line)))
        except (json.JSONDecodeError, TypeError) as exc:
            raise DataError(f"{path}: line {i + 1} is not a saerl record: {exc}") from exc
    return out
