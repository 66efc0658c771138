"""Inputs and conditions a user meets without meaning to: text that is not clean text, config values
that are not numbers, empty sweeps, names that leave their folder, a full disk, an edit that keeps
the old mtime, a torn cache file, shell code in an argument. Each gets one clear line naming the
file, line or key; nothing half-written is published; no traceback reaches the user."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saerl.config import load_experiment
from saerl.configlib import ConfigError
from saerl.data.config import DataConfig
from saerl.data.loaders import load_records
from saerl.data.records import DataError, write_records

ROOT = Path(__file__).parent.parent
SAERL = [sys.executable, "-m", "saerl"]


def saerl(*args: str, cwd: Path = ROOT, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*SAERL, *args], cwd=cwd, capture_output=True, text=True, **kw)


# ---------------------------------------------------------------- text that is not clean text


def test_a_bom_a_nul_and_a_lone_surrogate_are_reasons_with_line_numbers(tmp_path):
    rows = [
        '{"question": "What is 2+2?", "final_answer": "4"}',
        '{"question": "nul\\u0000 inside", "final_answer": "1"}',
        '{"question": "a\\ud800b", "final_answer": "2"}',
        '{"question": "fine?", "final_answer": "3", "topic": "\\udfff"}',
        '{"question": "last", "final_answer": "5"}',
    ]
    src = tmp_path / "deepmath.jsonl"
    src.write_bytes(b"\xef\xbb\xbf" + "\n".join(rows).encode())
    records, report = load_records(DataConfig(source=str(src)))
    assert [r.answer for r in records] == ["4", "5"]  # the BOM does not cost the first row
    assert report.examples == {
        "control_characters_prompt": [2],
        "invalid_unicode_prompt": [3],
        "invalid_unicode_topic": [4],
    }
    assert write_records(tmp_path / "out.jsonl", records) == 2  # what is kept can be written


def test_compressed_files_and_json_objects_are_refused_as_what_they_are(tmp_path):
    gz = tmp_path / "data.jsonl"
    gz.write_bytes(gzip.compress(b'{"question": "q", "final_answer": "1"}\n'))
    with pytest.raises(DataError, match=r"data\.jsonl: a gzip-compressed file; decompress it"):
        load_records(DataConfig(source=str(gz)))
    gz_parquet = tmp_path / "data.parquet"
    gz_parquet.write_bytes(gz.read_bytes())
    with pytest.raises(DataError, match="a gzip-compressed file"):
        load_records(DataConfig(source=str(gz_parquet)))
    obj = tmp_path / "data.json"
    obj.write_text(json.dumps({"version": 1, "data": [{"question": "q", "final_answer": "1"}]}))
    with pytest.raises(DataError, match=r"one JSON object \(keys: version, data\), not rows"):
        load_records(DataConfig(source=str(obj)))
    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps([{"question": "q", "final_answer": "1"}]))
    assert len(load_records(DataConfig(source=str(rows)))[0]) == 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400))
def test_the_jsonl_loader_never_raises_anything_but_a_data_error_on_arbitrary_bytes(tmp_path, data):
    src = tmp_path / "any.jsonl"
    src.write_bytes(data)
    try:
        records, report = load_records(DataConfig(source=str(src)))
    except DataError as exc:
        assert str(src) in str(exc)
        return
    assert report.kept == len(records)
    write_records(tmp_path / "out.jsonl", records)  # never a crash at write time


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["question", "final_answer", "topic", "difficulty", "id"]),
            st.one_of(st.text(max_size=30), st.integers(), st.floats(), st.none(), st.booleans()),
        ),
        max_size=6,
    )
)
def test_the_jsonl_loader_keeps_only_writable_rows_of_arbitrary_json(tmp_path, rows):
    src = tmp_path / "deepmath.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    try:
        records, _ = load_records(DataConfig(source=str(src)))
    except DataError:
        return
    write_records(tmp_path / "out.jsonl", records)
    for r in records:
        assert r.prompt.strip() and r.answer.strip()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300), st.sampled_from([".csv", ".json", ".parquet"]))
def test_the_other_formats_refuse_arbitrary_bytes_with_a_data_error_naming_the_file(tmp_path, data, suffix):
    src = tmp_path / f"any{suffix}"
    src.write_bytes(data)
    try:
        records, _ = load_records(DataConfig(source=str(src)))
    except DataError as exc:
        assert str(src) in str(exc)
        return
    write_records(tmp_path / "out.jsonl", records)


# ---------------------------------------------------------------- config values that are not numbers


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "nan", "inf", "1e999"])
def test_nan_and_infinity_are_refused_for_float_fields_naming_the_key(value):
    with pytest.raises(ConfigError, match=r"rl\.lr: expected a finite number"):
        load_experiment(overrides=[f"rl.lr={value}"])


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_every_float_either_loads_finite_or_fails_naming_the_key(value):
    for key in ("rl.lr", "rl.temperature", "curriculum.rho", "signals.quality.synth_noise_rate"):
        try:
            cfg = load_experiment(overrides=[f"{key}={value!r}" if value == value else f"{key}=.nan"])
        except ConfigError as exc:
            assert str(exc).startswith(key), exc
            continue
        section, _, field = key.rpartition(".")
        obj = cfg
        for part in section.split("."):
            obj = getattr(obj, part)
        got = getattr(obj, field)
        assert got == got and abs(got) != float("inf")


def test_a_section_given_twice_in_a_yaml_file_is_refused_naming_both_lines(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("rl:\n  lr: 1.0e-5\ndata:\n  source: arith\nrl:\n  steps: 3\n")
    with pytest.raises(ConfigError, match=r"key 'rl' appears twice in one mapping \(lines 1 and 5\)"):
        load_experiment(cfg)
    sweep = tmp_path / "s.yaml"
    sweep.write_text("name: s\ngrid:\n  rl.seed: [0]\n  rl.seed: [1]\n")
    out = saerl("plan", str(sweep))
    assert out.returncode == 2 and "appears twice" in out.stderr and "Traceback" not in out.stderr


# ---------------------------------------------------------------- empty sweeps, names that escape


@pytest.mark.parametrize("text", ["", "name: empty\n", "name: empty\ngrid: {}\n", "grid:\n"])
def test_an_empty_sweep_is_refused_instead_of_running_the_defaults(tmp_path, text):
    sweep = tmp_path / "empty.yaml"
    sweep.write_text(text)
    commands = [["study", str(sweep)], ["sweep", str(sweep), "CLUSTER=h100", "DRY_RUN=1"]]
    if "grid" in text:  # `saerl plan` takes a config file too: a file with a grid key is a sweep
        commands.append(["plan", str(sweep)])
    for command in commands:
        out = saerl(*command, f"store_dir={tmp_path / 'st'}", f"runs_dir={tmp_path / 'r'}")
        assert out.returncode == 2, command
        assert "no grid: nothing to sweep" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "st").exists() and not (tmp_path / "r").exists()


@pytest.mark.parametrize("name", ["../escape", "/abs/path", "a/b", "..", ".", ""])
def test_names_that_leave_their_folder_are_refused(tmp_path, name):
    with pytest.raises(ConfigError, match=r"name: .* is not a plain folder name"):
        load_experiment(overrides=[f"name={name}"])
    if not name:
        return  # a sweep without a name is named after its file
    sweep = tmp_path / "s.yaml"
    sweep.write_text(json.dumps({"name": name, "grid": {"rl.seed": [0]}}))
    out = saerl("sweep", str(sweep), "CLUSTER=h100", "DRY_RUN=1", f"runs_dir={tmp_path / 'runs'}")
    assert out.returncode == 2 and "not a plain folder name" in out.stderr
    assert not any(p for p in tmp_path.parent.iterdir() if p.name == "escape")


# ---------------------------------------------------------------- a full disk


@contextlib.contextmanager
def a_small_disk(tmp_path: Path, kib: int):
    """A folder on a tmpfs of ``kib`` KiB (root, as CI runs); where mounting is not allowed, the
    same folder with writes capped by RLIMIT_FSIZE (EFBIG instead of ENOSPC). Yields (folder,
    preexec_fn for the subprocess)."""
    folder = tmp_path / "small"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode == 0:
        try:
            yield folder, None
        finally:
            subprocess.run(["umount", "-l", str(folder)], check=False)
        return

    def cap() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (kib * 1024, kib * 1024))

    yield folder, cap


def test_a_full_disk_is_one_line_naming_where_and_nothing_is_published(tmp_path):
    with a_small_disk(tmp_path, 64) as (disk, preexec):
        store = disk / "store"
        out = subprocess.run(
            [*SAERL, "data", f"store_dir={store}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            preexec_fn=preexec,
        )
        assert out.returncode == 2, out.stderr
        assert "Traceback" not in out.stderr
        (line,) = [line for line in out.stderr.splitlines() if "error:" in line]
        assert "could not write" in line and ("ENOSPC" in line or "EFBIG" in line)
        assert "nothing was published" in line and str(store) in line
        assert not list(store.glob("data/*/manifest.json"))  # no artifact, not even a partial one


# ---------------------------------------------------------------- the fingerprint cache


def test_a_same_size_edit_with_the_old_mtime_is_seen_and_plan_verify_rehashes(tmp_path):
    from saerl.fingerprint import FingerprintCache, fingerprint

    data = tmp_path / "data.jsonl"
    data.write_text('{"question": "q", "final_answer": "1"}\n')
    cache = tmp_path / ".fingerprints.json"
    before = fingerprint(data, FingerprintCache(cache))
    st = data.stat()
    data.write_text('{"question": "q", "final_answer": "2"}\n')  # same length
    os.utime(data, ns=(st.st_atime_ns, st.st_mtime_ns))  # touch -r: the old mtime back
    assert data.stat().st_size == st.st_size and data.stat().st_mtime_ns == st.st_mtime_ns
    assert fingerprint(data, FingerprintCache(cache)) != before  # ctime moved: rehashed
    # --verify trusts no cached digest at all, whatever the stat says.
    poisoned = {k: "0" * 64 for k in json.loads(cache.read_text())}
    cache.write_text(json.dumps(poisoned))
    trusted = fingerprint(data, FingerprintCache(cache))  # reads the poisoned digest
    assert fingerprint(data, FingerprintCache(cache, verify=True)) != trusted


@pytest.mark.parametrize("torn", ["[]", "null", '"text"', "{", '{"k": 1}', "\xff\xfe"])
def test_a_torn_fingerprint_cache_is_rebuilt_not_a_traceback(tmp_path, torn):
    from saerl.fingerprint import FingerprintCache, fingerprint

    data = tmp_path / "data.jsonl"
    data.write_text('{"question": "q", "final_answer": "1"}\n')
    cache = tmp_path / ".fingerprints.json"
    cache.write_bytes(torn.encode("latin-1"))
    assert fingerprint(data, FingerprintCache(cache)) == fingerprint(data)
    assert isinstance(json.loads(cache.read_text()), dict)  # rewritten whole
    store = tmp_path / "store"
    store.mkdir()
    (store / ".fingerprints.json").write_text(torn if torn != "\xff\xfe" else "[]")
    out = saerl("plan", f"data.source={data}", f"store_dir={store}", "data.mapping=deepmath")
    assert "Traceback" not in out.stderr


# ---------------------------------------------------------------- shell code in an argument


def test_every_argument_of_a_rendered_job_is_quoted_so_none_is_shell_code(tmp_path):
    from saerl.rl.openrlhf.command import RunPaths
    from saerl.rl.openrlhf.run import LaunchSpec

    echo = tmp_path / "echoargs"
    echo.write_text('#!/usr/bin/env bash\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
    echo.chmod(0o755)
    evil = '${HOME}"; touch ' + str(tmp_path / "pwned") + "; echo $(id)"
    paths = RunPaths("/m", "/p", "/e", "/r", "/c")
    spec = LaunchSpec(
        tmp_path, paths, ["--data.input_template", evil, "--x", "a b"], {"K": "v'q"}, 1, "e", "h"
    )
    script = tmp_path / "command.sh"
    script.write_text(spec.script(python=str(echo)))
    out = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=True)
    assert evil in out.stdout.splitlines() and "a b" in out.stdout.splitlines()
    assert not (tmp_path / "pwned").exists()


def test_a_read_only_store_is_one_line_too(tmp_path):
    """A store on a read-only mount (root ignores permission bits, so a mount is the honest way).
    Where this machine allows no mount, the full-disk test above covers the same code path."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)], capture_output=True
    ).returncode:
        pytest.skip("this machine allows no mount (not root, or no CAP_SYS_ADMIN)")
    try:
        out = saerl("data", f"store_dir={folder / 'store'}")
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "EROFS" in out.stderr and "nothing was published" in out.stderr
