import json
import os

import pytest

from saerl.store import MANIFEST, ArtifactStore


def write_payload(text="hello"):
    calls = []

    def build(ctx):
        calls.append(ctx.path)
        (ctx.path / "payload.txt").write_text(text)
        (ctx.path / "sub").mkdir()
        (ctx.path / "sub" / "more.bin").write_bytes(b"\x00\x01")
        ctx.info["n"] = 2

    return build, calls


def test_second_call_reuses_the_artifact(store):
    build, calls = write_payload()
    a = store.get_or_build("stage", "1", {"x": 1}, build)
    b = store.get_or_build("stage", "1", {"x": 1}, build)
    assert len(calls) == 1
    assert a.path == b.path
    assert (a.path / "payload.txt").read_text() == "hello"


def test_key_depends_on_config_inputs_and_version(store):
    build, calls = write_payload()
    keys = {
        store.get_or_build("stage", "1", {"x": 1}, build).key,
        store.get_or_build("stage", "1", {"x": 2}, build).key,
        store.get_or_build("stage", "2", {"x": 1}, build).key,
        store.get_or_build("stage", "1", {"x": 1}, build, inputs=["abc"]).key,
    }
    assert len(keys) == 4
    assert len(calls) == 4


def test_manifest_records_provenance(store):
    build, _ = write_payload()
    art = store.get_or_build("stage", "1", {"x": 1}, build, inputs=["in1"])
    m = json.loads((art.path / MANIFEST).read_text())
    assert m["config"] == {"x": 1}
    assert m["inputs"] == ["in1"]
    assert m["wall_seconds"] >= 0 and m["accelerator_seconds"] == 0
    assert "torch" in m["packages"] and "saerl" in m["packages"]
    assert m["git_sha"]
    assert set(m["files"]) == {"payload.txt", "sub/more.bin"}
    assert m["info"] == {"n": 2}


def test_a_failing_build_leaves_nothing_behind(store):
    def broken(ctx):
        (ctx.path / "half.txt").write_text("partial")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        store.get_or_build("stage", "1", {"x": 1}, broken)
    assert list((store.root / "stage").iterdir()) == []
    build, calls = write_payload()
    store.get_or_build("stage", "1", {"x": 1}, build)
    assert len(calls) == 1


def test_crash_between_temp_write_and_rename_is_never_read(store, monkeypatch):
    build, calls = write_payload()
    real_rename = os.rename

    def crash(src, dst):
        raise KeyboardInterrupt("process killed before rename")

    monkeypatch.setattr(os, "rename", crash)
    with pytest.raises(KeyboardInterrupt):
        store.get_or_build("stage", "1", {"x": 1}, build)
    monkeypatch.setattr(os, "rename", real_rename)
    from saerl.store import artifact_key

    key = artifact_key("stage", "1", {"x": 1})
    assert store.find("stage", key) is None
    store.get_or_build("stage", "1", {"x": 1}, build)
    assert len(calls) == 2


def test_a_folder_without_manifest_is_rebuilt_not_read(store):
    from saerl.store import artifact_key

    key = artifact_key("stage", "1", {"x": 1})
    half = store.path("stage", key)
    half.mkdir(parents=True)
    (half / "payload.txt").write_text("garbage from a killed writer")
    build, calls = write_payload()
    art = store.get_or_build("stage", "1", {"x": 1}, build)
    assert len(calls) == 1
    assert (art.path / "payload.txt").read_text() == "hello"


@pytest.mark.parametrize("damage", ["edit", "truncate", "delete", "manifest"])
def test_corrupted_artifact_is_detected_and_rebuilt(store, damage):
    build, calls = write_payload()
    art = store.get_or_build("stage", "1", {"x": 1}, build)
    target = art.path / "payload.txt"
    if damage == "edit":
        target.write_text("jello")  # same size, different bytes
    elif damage == "truncate":
        target.write_text("he")
    elif damage == "delete":
        target.unlink()
    else:
        (art.path / MANIFEST).write_text("{not json")
    again = store.get_or_build("stage", "1", {"x": 1}, build)
    assert len(calls) == 2
    assert (again.path / "payload.txt").read_text() == "hello"


def test_clean_temporaries_removes_only_dead_builders_leftovers(store):
    import os
    import subprocess

    from saerl.store import _HOST

    proc = subprocess.Popen(["true"])  # a pid that has surely exited
    proc.wait()
    stage = store.root / "stage"
    (stage / f".tmp-abc-{_HOST}-{proc.pid}-xyz").mkdir(parents=True)  # killed builder
    (stage / f".tmp-abd-{_HOST}-{os.getpid()}-xyz").mkdir()  # a live build (this process)
    (stage / f".tmp-abe-otherhost-{proc.pid}-xyz").mkdir()  # another node's: cannot be checked
    assert store.clean_temporaries() == 1
    assert sorted(p.name.split("-")[1] for p in stage.iterdir()) == ["abd", "abe"]


def _build_slowly(root, marks):
    """One process of the concurrency test: build key x=1, recording each build in ``marks``."""
    import time
    from pathlib import Path

    def build(ctx):
        with Path(marks).open("a") as fh:
            fh.write("built\n")
        time.sleep(1.0)
        (ctx.path / "payload.txt").write_text("hello")

    art = ArtifactStore(root).get_or_build("stage", "1", {"x": 1}, build)
    return str(art.path), (art.path / "payload.txt").read_text()


def test_concurrent_builders_of_one_key_build_it_once(tmp_path):
    from concurrent.futures import ProcessPoolExecutor

    marks = tmp_path / "marks.txt"
    with ProcessPoolExecutor(4) as pool:
        results = list(pool.map(_build_slowly, [tmp_path / "s"] * 4, [marks] * 4))
    assert marks.read_text().count("built") == 1
    assert len(set(results)) == 1 and results[0][1] == "hello"
    assert not list((tmp_path / "s" / "stage").glob(".tmp-*"))


def test_size_only_verification_skips_hashing(tmp_path):
    store = ArtifactStore(tmp_path, verify_hashes=False)
    build, calls = write_payload()
    art = store.get_or_build("stage", "1", {}, build)
    (art.path / "payload.txt").write_text("jello")
    store.get_or_build("stage", "1", {}, build)
    assert len(calls) == 1  # same size: accepted when hashes are not verified
