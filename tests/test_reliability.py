"""Regression tests for the reliability failures found by trying the suite as a new user would:
stale cache keys, malformed and empty inputs, NaN in numeric fields, ids, bad sweep files, a bad
target model, and a property test of the loaders on randomly corrupted files. (A torn checkpoint:
tests/test_rl.py; dead builders' leftovers and concurrent builders: tests/test_store.py.)"""

from __future__ import annotations

import json
import math
import shutil
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saerl.config import ConfigError, load_experiment
from saerl.data.config import DataConfig
from saerl.data.loaders import load_records
from saerl.data.records import DataError, read_records, write_records
from saerl.launch.graph import StageGraph


def graph(tmp_path: Path, *overrides: str) -> StageGraph:
    return StageGraph(load_experiment(overrides=[f"store_dir={tmp_path / 'store'}", *overrides]))


# ---------------------------------------------------------------- stale results: content-aware keys


def test_an_edited_data_file_gets_a_new_data_key(tmp_path):
    src = tmp_path / "d.jsonl"
    src.write_text(json.dumps({"prompt": "What is 1+1?", "answer": "2"}) + "\n")
    first = graph(tmp_path, f"data.source={src}").data.key
    assert graph(tmp_path, f"data.source={src}").data.key == first  # unchanged: same key (cached print)
    src.write_text(json.dumps({"prompt": "What is 1+2?", "answer": "3"}) + "\n")  # same size, new bytes
    assert graph(tmp_path, f"data.source={src}").data.key != first


def _model_folder(path: Path) -> Path:
    path.mkdir()
    (path / "config.json").write_text('{"model_type": "qwen2"}')
    (path / "model.safetensors").write_bytes(b"\0" * 64)
    return path


def test_rewritten_weights_of_a_model_folder_are_another_model(tmp_path):
    folder = _model_folder(tmp_path / "m")
    key = graph(tmp_path, f"rl.target_model={folder}").target.key
    (folder / "model.safetensors").write_bytes(b"\1" * 64)  # same size, other weights
    assert graph(tmp_path, f"rl.target_model={folder}").target.key != key
    moved = tmp_path / "elsewhere"
    shutil.copytree(folder, moved)  # the same files somewhere else: the same model
    assert (
        graph(tmp_path, f"rl.target_model={moved}").target.key
        == graph(tmp_path, f"rl.target_model={folder}").target.key
    )


def test_replaced_files_of_a_pretrained_sae_folder_change_the_sae_key(tmp_path):
    sae = tmp_path / "sae"
    sae.mkdir()
    (sae / "cfg.json").write_text("{}")
    (sae / "sae_weights.safetensors").write_bytes(b"\0" * 32)
    key = graph(tmp_path, f"sae.pretrained={sae}").sae.key
    (sae / "sae_weights.safetensors").write_bytes(b"\0" * 31 + b"\1")
    assert graph(tmp_path, f"sae.pretrained={sae}").sae.key != key


# ---------------------------------------------------------------- loaders


def test_one_bad_jsonl_line_is_skipped_and_named_by_line(tmp_path):
    src = tmp_path / "rows.jsonl"
    good = json.dumps({"prompt": "What is 2+2?", "answer": "4"})
    src.write_bytes(
        f"{good}\n{{not json\n\n[1, 2]\n".encode() + b"\xff\xfe bad bytes\n" + f"{good}\n".encode()
    )
    records, report = load_records(DataConfig(source=str(src), mapping="generic"))
    assert [r.prompt for r in records] == ["What is 2+2?"] * 2  # lines 1 and 6; made-up ids differ
    assert dict(report.skipped) == {"bad_json": 1, "not_an_object": 1, "bad_encoding": 1}
    assert report.skipped["bad_json"] == 1 and report.examples["bad_json"] == [2]
    assert report.skipped["not_an_object"] == 1 and report.examples["not_an_object"] == [4]
    assert report.skipped["bad_encoding"] == 1 and report.examples["bad_encoding"] == [5]
    assert "rows" in report.summary() and "(e.g. lines [2])" in report.summary()


def test_empty_and_unreadable_files_give_one_line_errors_naming_them(tmp_path):
    for name in ("empty.jsonl", "empty.csv", "empty.json"):
        (tmp_path / name).write_text("")
        with pytest.raises(DataError, match=rf"{name}: the file is empty$"):
            load_records(DataConfig(source=str(tmp_path / name)))
    (tmp_path / "blank.jsonl").write_text("\n\n  \n")
    with pytest.raises(DataError, match=r"blank\.jsonl: the file is empty"):
        load_records(DataConfig(source=str(tmp_path / "blank.jsonl")))
    (tmp_path / "bad.json").write_text("{ this is not json")
    with pytest.raises(DataError, match=r"bad\.json: cannot read dataset") as info:
        load_records(DataConfig(source=str(tmp_path / "bad.json")))
    assert "\n" not in str(info.value)


def test_deepmath_ids_are_honoured_duplicates_counted_and_nan_is_missing(tmp_path):
    rows = [
        {"id": "dm-1", "question": "Q one?", "final_answer": "1", "difficulty": float("nan"), "topic": "A"},
        {"id": "dm-2", "question": "Q two?", "final_answer": "2", "difficulty": 3.0, "topic": "A"},
        {"id": "dm-1", "question": "Q again?", "final_answer": "3", "difficulty": 2.0, "topic": "B"},
        {"id": "dm-4", "question": "Q four?", "final_answer": "4", "difficulty": float("inf"), "topic": "B"},
    ]
    src = tmp_path / "deepmath.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))  # json.dumps writes NaN/Infinity
    records, report = load_records(DataConfig(source=str(src)))
    assert [r.id for r in records] == ["dm-1", "dm-2", "dm-4"]
    assert report.skipped["duplicate_id"] == 1 and report.examples["duplicate_id"] == [3]
    assert [r.meta["difficulty"] for r in records] == [None, 3.0, None]
    assert report.missing["difficulty"] == 2 and "missing      2  difficulty" in report.summary()
    out = tmp_path / "out.jsonl"
    write_records(out, records)
    for line in out.read_text().splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} written"))  # strict JSON
    assert read_records(out) == records


# ---------------------------------------------------------------- config and sweep files


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3\n", r"a sweep file is a mapping"),
        ("grid: [rl.seed, 1]\n", r"grid must map dotted keys to lists of values"),
        ("overrides: rl.seed=1\ngrid: {rl.seed: [0]}\n", r"overrides must be a list"),
        ("config: 5\ngrid: {rl.seed: [0]}\n", r"config must be a mapping"),
        ("grid: {rl.lr: [0.1, -1]}\n", r"point .*rl\.lr=-1: rl\.lr: expected 0 < lr"),
    ],
)
def test_sweep_files_of_the_wrong_shape_fail_clearly(tmp_path, text, message):
    from saerl.launch.sweep import read_sweep

    f = tmp_path / "s.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_sweep(f)


def test_train_with_an_unknown_target_creates_nothing(tmp_path, capsys):
    from saerl.cli import main

    rc = main(
        ["train", "rl.target_model=qwen2-sx", f"store_dir={tmp_path / 's'}", f"runs_dir={tmp_path / 'r'}"]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert "model 'qwen2-sx' is not a model of models.family (qwen2-xs, qwen2-s" in err
    assert not (tmp_path / "r").exists() and not (tmp_path / "s" / "data").exists()


# ---------------------------------------------------------------- property test: corrupted files

GOOD = st.builds(
    lambda p, a: {"prompt": p, "answer": a},
    st.text(string.ascii_letters + " ?+", min_size=1, max_size=30).filter(str.strip),
    st.integers(0, 999).map(str),
)
BAD = st.sampled_from(
    [
        (b"{not json", "bad_json"),
        (b"[1, 2, 3]", "not_an_object"),
        (b'"just a string"', "not_an_object"),
        (b"\xff\xfe\xfa", "bad_encoding"),
        (b'{"prompt": "", "answer": "1"}', "empty_prompt"),
        (b'{"prompt": "q?", "answer": null}', "missing_answer"),
        (b'{"answer": "1"}', "missing_column_prompt"),
        (b'{"prompt": 7, "answer": "1"}', "non_text_prompt"),
    ]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.one_of(GOOD.map(lambda r: ("good", r)), BAD.map(lambda b: ("bad", b))), min_size=1, max_size=25
    )
)
def test_loader_keeps_every_good_row_and_counts_every_bad_one(tmp_path, lines):
    src = tmp_path / "fuzz.jsonl"
    body = b"\n".join(json.dumps(x).encode() if kind == "good" else x[0] for kind, x in lines) + b"\n"
    src.write_bytes(body)
    good = [x for kind, x in lines if kind == "good"]
    bad = [x[1] for kind, x in lines if kind == "bad"]
    records, report = load_records(DataConfig(source=str(src), mapping="generic"))
    assert [(r.prompt, r.answer) for r in records] == [(g["prompt"].strip(), g["answer"]) for g in good]
    assert report.rows == len(lines) and report.kept == len(good)
    expected: dict[str, int] = {}
    for reason in bad:
        expected[reason] = expected.get(reason, 0) + 1
    assert dict(report.skipped) == expected
    assert not any(math.isnan(v) for r in records for v in r.meta.values() if isinstance(v, float))


def test_hub_ids_are_keyed_by_the_revision_they_resolve_to(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    plain = graph(tmp_path, "rl.target_model=org/model-7b").target.key
    assert plain == "hub-org/model-7b"  # not cached and offline: the id alone
    ref = tmp_path / "hub" / "models--org--model-7b" / "refs" / "main"
    ref.parent.mkdir(parents=True)
    ref.write_text("abc123")
    assert graph(tmp_path, "rl.target_model=org/model-7b").target.key == "hub-org/model-7b@abc123"
    ref.write_text("def456")  # the cache moved to a new commit: another model
    assert graph(tmp_path, "rl.target_model=org/model-7b").target.key == "hub-org/model-7b@def456"
    dref = tmp_path / "hub" / "datasets--org--data" / "refs" / "main"
    dref.parent.mkdir(parents=True)
    dref.write_text("d1")
    assert graph(tmp_path, "data.source=org/data").data.params["source_revision"] == "d1"
