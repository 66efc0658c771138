"""Load prompts from a hub name or a local file/folder through `datasets`, mapped onto `Record`s.

Mappings (docs/method.md's datasets): DeepMath-103K (question, final_answer, difficulty, topic), MATH
(problem, solution with a \\boxed{} answer, level, type), GSM8K (question, answer ending '#### n'),
saerl's own record files, and a generic mapping by column names. Bad rows are skipped and counted
by reason in a `LoadReport`; an unreadable source raises `DataError` naming it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from saerl.data.config import DataConfig, FieldMap
from saerl.data.records import DataError, LoadReport, Record, check_text, unclean_text

# Suffix -> `datasets` builder name.
FILE_BUILDERS = {
    ".jsonl": "json",
    ".json": "json",
    ".parquet": "parquet",
    ".csv": "csv",
    ".arrow": "arrow",
}

Row = Mapping[str, Any]
Mapped = dict[str, Any]  # prompt, answer, and optionally id, topic, meta


@dataclass(frozen=True)
class Skip:
    """A raw row that could not even be parsed (a bad jsonl line): skipped with this reason."""

    reason: str


def load_records(cfg: DataConfig) -> tuple[list[Record], LoadReport]:
    """Read ``cfg.source`` (not 'arith': the generator has its own stage) into records (the first
    ``cfg.max_records`` usable ones when that is set)."""
    path = Path(cfg.source)
    if path.is_file() and path.suffix.lower() == ".jsonl":
        rows, lines, columns = read_jsonl(path)
        mapping = resolve_mapping(cfg.mapping, cfg.source, columns)
        records, report = map_rows(
            rows, mapping, cfg, _source_name(cfg.source), positions=lines, unit="lines"
        )
    else:
        table, columns = _read_rows(cfg.source, cfg.split)
        mapping = resolve_mapping(cfg.mapping, cfg.source, columns)
        records, report = map_rows(table, mapping, cfg, source_name=_source_name(cfg.source))
    if cfg.max_records and len(records) > cfg.max_records:
        records = records[: cfg.max_records]
        report.kept = len(records)
    return records, report


def resolve_mapping(mapping: str, source: str, columns: Iterable[str]) -> str:
    if mapping != "auto":
        return mapping
    cols = set(columns)
    name = source.lower()
    if {"id", "prompt", "answer", "meta"} <= cols:
        return "saerl"
    if "deepmath" in name or {"question", "final_answer"} <= cols:
        return "deepmath"
    if "gsm8k" in name or {"question", "answer"} <= cols:
        return "gsm8k"
    if {"problem", "solution"} <= cols:
        return "math"
    return "generic"


def map_rows(
    rows: Iterable[Row | Skip],
    mapping: str | Callable[[Row], Mapped | str],
    cfg: DataConfig,
    source_name: str,
    positions: Sequence[int] | None = None,
    unit: str = "rows",
) -> tuple[list[Record], LoadReport]:
    """Apply one mapping (a name, or a row -> fields function) to raw rows; pure (no I/O), so tests
    can feed it lists of dicts. ``positions``: where each row is in its file (jsonl line numbers),
    for the report."""
    mapper = mapping if callable(mapping) else _mapper(mapping, cfg.fields)
    report = LoadReport(source=source_name, unit=unit)
    records: list[Record] = []
    seen: set[str] = set()
    for n, row in enumerate(rows):
        i = positions[n] if positions is not None else n
        report.rows += 1
        if isinstance(row, Skip):
            report.skip(row.reason, i)
            continue
        mapped = mapper(row)
        if isinstance(mapped, str):
            report.skip(mapped, i)
            continue
        reason = check_text(mapped["prompt"], "prompt", cfg.max_prompt_chars) or check_text(
            mapped["answer"], "answer", cfg.max_prompt_chars
        )
        reason = reason or unclean_extras(mapped)
        if reason:
            report.skip(reason, i)
            continue
        given = mapped.get("id")
        # Made-up ids use the row's index (the same in every file format), never the line number.
        rid = f"{source_name}:{n}" if given is None or str(given).strip() == "" else str(given).strip()
        if rid in seen:
            report.skip("duplicate_id", i)
            continue
        seen.add(rid)
        mapped["meta"] = _finite(mapped.get("meta") or {}, report)
        records.append(
            Record(
                id=rid,
                prompt=mapped["prompt"].strip(),
                answer=mapped["answer"].strip(),
                topic=str(mapped.get("topic") or ""),
                source=source_name,
                meta=mapped.get("meta") or {},
            )
        )
        report.kept += 1
    return records, report


def unclean_extras(mapped: Mapped) -> str | None:
    """The id, topic and text values of meta must be writable text too (a lone surrogate would
    crash the writer later, naming neither file nor line)."""
    fields = {"id": mapped.get("id"), "topic": mapped.get("topic")}
    fields |= {f"meta_{k}": v for k, v in (mapped.get("meta") or {}).items()}
    for name, value in fields.items():
        if not isinstance(value, str) or not (reason := unclean_text(value, name)):
            continue
        if name in ("id", "topic") or reason.startswith("invalid_unicode"):  # a meta text may hold \f
            return reason
    return None


# ------------------------------------------------------------------ mappings (row -> fields | reason)


def _deepmath(row: Row) -> Mapped | str:
    meta = {"difficulty": _number(row.get("difficulty"))}
    if "r1_solution_1" in row:
        meta["has_solutions"] = True
    return {
        "id": row.get("id"),  # honoured when the file has one (duplicates are then skipped, counted)
        "prompt": row.get("question"),
        "answer": _as_text(row.get("final_answer")),
        "topic": row.get("topic") or "",
        "meta": meta,
    }


def _math(row: Row) -> Mapped | str:
    solution = row.get("solution")
    if not isinstance(solution, str):
        return "missing_solution"
    answer = last_boxed(solution)
    if answer is None:
        return "no_boxed_answer"
    level = re.search(r"\d+", str(row.get("level") or ""))
    meta = {"difficulty": float(level.group()) if level else None, "solution": solution}
    return {"prompt": row.get("problem"), "answer": answer, "topic": row.get("type") or "", "meta": meta}


def _gsm8k(row: Row) -> Mapped | str:
    full = row.get("answer")
    if not isinstance(full, str):
        return "missing_answer"
    if "####" not in full:
        return "no_final_answer_marker"
    solution, _, final = full.rpartition("####")
    return {
        "prompt": row.get("question"),
        "answer": final.strip().replace(",", ""),
        "meta": {"solution": solution.strip()},
    }


def _saerl(row: Row) -> Mapped | str:
    return {
        "id": row.get("id"),
        "prompt": row.get("prompt"),
        "answer": row.get("answer"),
        "topic": row.get("topic") or "",
        "meta": dict(row.get("meta") or {}),
    }


def _generic(fields: FieldMap) -> Callable[[Row], Mapped | str]:
    def mapper(row: Row) -> Mapped | str:
        for col in (fields.prompt, fields.answer):
            if col not in row:
                return f"missing_column_{col}"
        meta = {}
        if fields.difficulty:
            meta["difficulty"] = _number(row.get(fields.difficulty))
        return {
            "id": row.get(fields.id) if fields.id else None,
            "prompt": row.get(fields.prompt),
            "answer": _as_text(row.get(fields.answer)),
            "topic": row.get(fields.topic) if fields.topic else "",
            "meta": meta,
        }

    return mapper


def _mapper(mapping: str, fields: FieldMap) -> Callable[[Row], Mapped | str]:
    table: dict[str, Callable[[Row], Mapped | str]] = {
        "deepmath": _deepmath,
        "math": _math,
        "gsm8k": _gsm8k,
        "saerl": _saerl,
        "generic": _generic(fields),
    }
    if mapping not in table:
        raise DataError(f"mapping {mapping!r}: choose from {sorted(table)}")
    return table[mapping]


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} (or \\fbox{...}) in ``text``, braces balanced."""
    start = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
    if start < 0:
        return None
    i = text.index("{", start) + 1
    depth = 1
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j].strip()
    return None


def _as_text(value: Any) -> Any:
    # Numeric answers (e.g. an int column in a csv) are legitimate answers; keep them as text.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def _number(value: Any) -> float | None:
    """A float, NaN for non-finite input (reported and stored as missing by map_rows), None if absent."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _finite(meta: dict[str, Any], report: LoadReport) -> dict[str, Any]:
    """Non-finite floats (NaN, inf) become None, counted per field: they are not JSON."""
    out = {}
    for key, value in meta.items():
        if isinstance(value, float) and not math.isfinite(value):
            report.missing[key] += 1
            value = None
        out[key] = value
    return out


# ------------------------------------------------------------------ reading (the I/O edge)


def _source_name(source: str) -> str:
    path = Path(source)
    return path.stem if path.exists() else source


def read_jsonl(path: Path) -> tuple[list[Row | Skip], list[int], list[str]]:
    """(rows, their 1-based line numbers, the columns seen) of a jsonl file, read line by line: a
    line that is not UTF-8, not JSON or not a JSON object becomes a Skip, never an error for the
    whole file. Blank lines are ignored; an empty file is an error naming it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None
    check_not_compressed(path, data[:6])
    data = data.removeprefix(UTF8_BOM)  # editors on Windows write one; it belongs to no row
    if not data.strip():
        raise DataError(f"{path}: the file is empty")
    rows: list[Row | Skip] = []
    lines: list[int] = []
    columns: dict[str, None] = {}
    for n, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        lines.append(n)
        try:
            obj = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            rows.append(Skip("bad_encoding"))
            continue
        except json.JSONDecodeError:
            rows.append(Skip("bad_json"))
            continue
        if not isinstance(obj, dict):
            rows.append(Skip("not_an_object"))
            continue
        columns.update(dict.fromkeys(obj))
        rows.append(obj)
    return rows, lines, list(columns)


UTF8_BOM = b"\xef\xbb\xbf"
COMPRESSED = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bzip2",
    b"\xfd7zXZ": "xz",
    b"PK\x03\x04": "zip",
    b"(\xb5/\xfd": "zstd",
}


def check_not_compressed(path: Path, head: bytes) -> None:
    """A compressed file is refused as what it is (not as rows of bad encoding)."""
    for magic, kind in COMPRESSED.items():
        if head.startswith(magic) and (kind != "bzip2" or head[3:4].isdigit()):  # BZh + block size
            raise DataError(
                f"{path}: a {kind}-compressed file; decompress it and point data.source at the "
                f"uncompressed file (expected {', '.join(sorted(FILE_BUILDERS))})"
            )


def check_json_layout(path: Path) -> None:
    """A .json file must be an array of row objects (or one object per line): a single JSON object
    (e.g. {"data": [...]}) is refused naming its keys, instead of reading as one row without the
    expected columns."""
    with path.open("rb") as fh:
        head = fh.read(4096).removeprefix(UTF8_BOM).lstrip()
    if not head.startswith(b"{") or path.stat().st_size > 512 * 2**20:
        return
    try:
        whole = json.loads(path.read_bytes().removeprefix(UTF8_BOM))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return  # JSON lines (one object per line): that is a row layout datasets reads
    if isinstance(whole, dict):
        keys = ", ".join(list(map(str, whole))[:8])
        raise DataError(
            f"{path}: one JSON object (keys: {keys}), not rows; expected an array of row objects "
            "([{...}, ...]) or one row object per line"
        )


def _read_rows(source: str, split: str) -> tuple[Iterable[Row], list[str]]:
    import datasets  # heavy: imported only when a real source is read

    path = Path(source)
    if path.is_file():
        with path.open("rb") as fh:
            check_not_compressed(path, fh.read(6))
        if path.suffix.lower() == ".json":
            check_json_layout(path)
    try:
        if path.is_dir():
            ds = datasets.load_from_disk(str(path))
            if isinstance(ds, datasets.DatasetDict):
                if split not in ds:
                    raise DataError(f"{path}: no split {split!r}; it has {sorted(ds)}")
                ds = ds[split]
        elif path.exists():
            builder = FILE_BUILDERS.get(path.suffix.lower())
            if builder is None:
                raise DataError(f"{path}: unsupported file type; use one of {sorted(FILE_BUILDERS)}")
            ds = datasets.load_dataset(builder, data_files=str(path), split="train")
        elif source.startswith((".", "/", "~")) or Path(source).suffix.lower() in FILE_BUILDERS:
            raise DataError(f"{source}: no such file or folder")
        else:
            ds = datasets.load_dataset(source, split=split)
    except DataError:
        raise
    except Exception as exc:  # datasets raises many types; all mean "could not read this source"
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        if path.is_file() and path.stat().st_size == 0:
            raise DataError(f"{source}: the file is empty") from None
        raise DataError(f"{source}: cannot read dataset ({type(exc).__name__}: {first})") from None
    return ds, list(ds.column_names)
