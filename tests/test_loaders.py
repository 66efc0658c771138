import json

import pytest

from saerl.data.config import DataConfig, FieldMap
from saerl.data.loaders import last_boxed, load_records, map_rows
from saerl.data.records import DataError

DEEPMATH = [
    {"question": "What is 2+2?", "final_answer": "4", "difficulty": 1.5, "topic": "Arithmetic"},
    {"question": "Integrate x dx.", "final_answer": "\\frac{x^2}{2}", "difficulty": 4.0, "topic": "Calculus"},
]
MATH = [
    {
        "problem": "Compute 1/2+1/4.",
        "solution": "We get $\\boxed{\\frac{3}{4}}$.",
        "level": "Level 2",
        "type": "Algebra",
    },
    {"problem": "Find x.", "solution": "So $x=\\boxed{\\{1,2\\}}$", "level": "Level 5", "type": "Algebra"},
]
GSM8K = [
    {"question": "Tom has 3 apples and buys 2. How many?", "answer": "3+2=5\n#### 5"},
    {"question": "A shop sells 1,000 pens a day. Pens in 2 days?", "answer": "1000*2=2000\n#### 2,000"},
]
GENERIC = [{"q": "What is 6*7?", "a": 42, "uid": "x1", "cat": "mul", "hard": "0.3"}]


def write(path, rows, fmt):
    import datasets

    ds = datasets.Dataset.from_list(rows)
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif fmt == "json":
        path.write_text(json.dumps(rows))
    elif fmt == "parquet":
        ds.to_parquet(str(path))
    elif fmt == "csv":
        ds.to_csv(str(path), index=False)
    elif fmt == "arrow":
        import pyarrow as pa

        table = ds.data.table
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    elif fmt == "disk":
        ds.save_to_disk(str(path))
    return path


FORMATS = ["jsonl", "json", "parquet", "csv", "arrow", "disk"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_deepmath_mapping_in_every_format(tmp_path, fmt):
    src = write(tmp_path / ("deepmath" + ("" if fmt == "disk" else f".{fmt}")), DEEPMATH, fmt)
    records, report = load_records(DataConfig(source=str(src)))
    assert report.kept == 2 and not report.skipped
    assert [r.answer for r in records] == ["4", "\\frac{x^2}{2}"]
    assert records[1].topic == "Calculus"
    assert records[1].meta["difficulty"] == 4.0
    assert records[0].id == "deepmath:0"


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "csv"])
def test_math_mapping_extracts_the_boxed_answer_and_level(tmp_path, fmt):
    src = write(tmp_path / f"competition.{fmt}", MATH, fmt)
    records, _ = load_records(DataConfig(source=str(src), mapping="math"))
    assert [r.answer for r in records] == ["\\frac{3}{4}", "\\{1,2\\}"]
    assert [r.meta["difficulty"] for r in records] == [2.0, 5.0]
    assert records[0].topic == "Algebra"


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "disk"])
def test_gsm8k_mapping_takes_the_number_after_the_marker(tmp_path, fmt):
    src = write(tmp_path / ("gsm8k" + ("" if fmt == "disk" else f".{fmt}")), GSM8K, fmt)
    records, _ = load_records(DataConfig(source=str(src)))
    assert [r.answer for r in records] == ["5", "2000"]
    assert records[0].meta["solution"] == "3+2=5"


def test_datasetdict_folder_uses_the_configured_split(tmp_path):
    import datasets

    dd = datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(GSM8K), "test": datasets.Dataset.from_list(GSM8K[:1])}
    )
    dd.save_to_disk(str(tmp_path / "gsm"))
    records, _ = load_records(DataConfig(source=str(tmp_path / "gsm"), split="test", mapping="gsm8k"))
    assert len(records) == 1
    with pytest.raises(DataError, match=r"no split 'validation'; it has \['test', 'train'\]"):
        load_records(DataConfig(source=str(tmp_path / "gsm"), split="validation"))


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_generic_mapping_by_config(tmp_path, fmt):
    src = write(tmp_path / f"mine.{fmt}", GENERIC, fmt)
    cfg = DataConfig(
        source=str(src),
        mapping="generic",
        fields=FieldMap(prompt="q", answer="a", id="uid", topic="cat", difficulty="hard"),
    )
    records, _ = load_records(cfg)
    (r,) = records
    assert (r.id, r.prompt, r.answer, r.topic, r.meta["difficulty"]) == (
        "x1",
        "What is 6*7?",
        "42",
        "mul",
        0.3,
    )


def test_saerl_record_files_round_trip(tmp_path):
    from saerl.data.records import Record, write_records

    recs = [Record("a", "p1", "1", "t", "s", {"k": 1}), Record("b", "p2", "2")]
    write_records(tmp_path / "recs.jsonl", recs)
    loaded, _ = load_records(DataConfig(source=str(tmp_path / "recs.jsonl")))
    assert [(r.id, r.prompt, r.meta) for r in loaded] == [("a", "p1", {"k": 1}), ("b", "p2", {})]


def test_bad_rows_are_skipped_and_counted_by_reason(tmp_path):
    rows = [
        {"prompt": "good one", "answer": "1"},
        {"prompt": "", "answer": "1"},
        {"prompt": "   ", "answer": "1"},
        {"prompt": None, "answer": "1"},
        {"prompt": 12345, "answer": "1"},
        {"prompt": "x" * 100, "answer": "1"},
        {"prompt": "no answer", "answer": None},
        {"prompt": "list answer", "answer": ["1"]},
        {"prompt": "another good", "answer": "2"},
    ]
    src = tmp_path / "mixed.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    records, report = load_records(DataConfig(source=str(src), mapping="generic", max_prompt_chars=50))
    assert [r.prompt for r in records] == ["good one", "another good"]
    assert report.rows == 9 and report.kept == 2
    assert dict(report.skipped) == {
        "empty_prompt": 2,
        "missing_prompt": 1,
        "non_text_prompt": 1,
        "absurd_length_prompt": 1,
        "missing_answer": 1,
        "non_text_answer": 1,
    }
    assert report.examples["empty_prompt"] == [2, 3] and report.unit == "lines"  # jsonl: 1-based lines
    assert "skipped      2  empty_prompt" in report.summary()


def test_mapping_specific_bad_rows():
    cfg = DataConfig()
    _, report = map_rows([{"question": "q", "answer": "no marker"}, {"question": "q"}], "gsm8k", cfg, "gsm")
    assert dict(report.skipped) == {"no_final_answer_marker": 1, "missing_answer": 1}
    _, report = map_rows([{"problem": "p", "solution": "no box"}], "math", cfg, "math")
    assert dict(report.skipped) == {"no_boxed_answer": 1}
    _, report = map_rows([{"id": "a", "prompt": "p", "answer": "1", "meta": {}}] * 2, "saerl", cfg, "s")
    assert dict(report.skipped) == {"duplicate_id": 1}
    _, report = map_rows([{"text": "x"}], "generic", cfg, "g")
    assert dict(report.skipped) == {"missing_column_prompt": 1}


def test_unreadable_sources_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match=r"nothere\.jsonl: no such file or folder"):
        load_records(DataConfig(source=str(tmp_path / "nothere.jsonl")))
    odd = tmp_path / "data.xlsx"
    odd.write_text("x")
    with pytest.raises(DataError, match=r"data\.xlsx: unsupported file type"):
        load_records(DataConfig(source=str(odd)))
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"this is not parquet")
    with pytest.raises(DataError, match=r"broken\.parquet: cannot read dataset"):
        load_records(DataConfig(source=str(broken)))


def test_last_boxed_handles_nesting():
    assert last_boxed("a \\boxed{1} then \\boxed{\\frac{1}{2}}") == "\\frac{1}{2}"
    assert last_boxed("\\fbox{7}") == "7"
    assert last_boxed("\\boxed{unclosed") is None
    assert last_boxed("nothing") is None


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_max_records_keeps_the_first_usable_records_in_file_order(tmp_path, fmt):
    rows = [{"question": f"What is {i}+1?", "final_answer": str(i + 1)} for i in range(5)]
    rows.insert(1, {"question": "", "final_answer": "1"})  # unusable: skipped, not counted
    src = write(tmp_path / f"deepmath.{fmt}", rows, fmt)
    records, report = load_records(DataConfig(source=str(src), max_records=3))
    assert [r.answer for r in records] == ["1", "2", "3"] and report.kept == 3
    with pytest.raises(ValueError, match="max_records: must be >= 0"):
        DataConfig(source=str(src), max_records=-1)
