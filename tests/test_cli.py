import subprocess
import sys

from saerl.cli import main

SMALL = [
    "data.arith.n_train=200",
    "data.arith.n_sft=100",
    "data.arith.n_eval_id=50",
    "data.arith.n_eval_ood=50",
]


def test_data_command_prints_counts_and_is_byte_identical_across_stores(tmp_path, capsys):
    outputs = []
    for store in ("a", "b"):
        assert main(["data", f"store_dir={tmp_path / store}", *SMALL]) == 0
        outputs.append(capsys.readouterr().out)
    out = outputs[0]
    assert "train" in out and "200 records" in out
    assert "topics: addition=" in out and "noise:  garbled=" in out
    files_a = sorted((tmp_path / "a" / "data").glob("*/*.jsonl"))
    files_b = sorted((tmp_path / "b" / "data").glob("*/*.jsonl"))
    assert [f.name for f in files_a] == [
        "eval_id.jsonl",
        "eval_ood.jsonl",
        "sft.jsonl",
        "train.jsonl",
        "val.jsonl",
    ]
    assert [f.read_bytes() for f in files_a] == [f.read_bytes() for f in files_b]


def test_config_file_then_overrides(tmp_path, capsys):
    cfg = tmp_path / "exp.yaml"
    cfg.write_text("name: trial\nmodels:\n  sft:\n    steps: 11\n")
    assert main(["config", str(cfg), "seed=5"]) == 0
    out = capsys.readouterr().out
    assert "name: trial" in out and "steps: 11" in out and "seed: 5" in out


def test_errors_exit_2_and_name_the_key(capsys):
    assert main(["config", "models.sft.stpes=3"]) == 2
    err = capsys.readouterr().err
    assert "unknown key models.sft.stpes (did you mean models.sft.steps?)" in err


def test_module_entry_point_runs():
    proc = subprocess.run(
        [sys.executable, "-m", "saerl", "--help"], capture_output=True, text=True, check=True
    )
    assert "data" in proc.stdout and "models" in proc.stdout
