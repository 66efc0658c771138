"""The committed results (analysis/results.py, analysis/sources/tidy_files.py): export and read back
give the same tables, sweeps are replaced not duplicated, bad files are named with the row, and the
README's results table is the one `make paper` builds from analysis/results."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pandas as pd
import pytest

from analysis.paired import summarize
from analysis.results import BEGIN, END, export, front_rows, front_table, kept, write_readme
from analysis.sources import load_runs
from analysis.sources.tidy_files import load
from analysis.tidy import RunLog, build

ROOT = Path(__file__).resolve().parents[1]


def _log(method, replicate, finals, sweep="paired", target="llama-s", state="done"):
    cond = {"sweep": sweep, "source_model": "qwen2-xs", "target_model": target, "method": method}
    cond |= {"rho": 0.25, "seed": 0, "replicate": replicate, "family": "llama", "scale": 2.0}
    rows = [{"step": s, "eval/average": a, "eval/eval_id/accuracy": a + 0.1} for s, a in finals]
    rows += [
        {"step": s, "train/reward": 0.5, "train/clip_ratio/region_mean": 0.0, "train/grad_norm": 1.0}
        for s in (1, 2)
    ]
    return RunLog(
        f"{target}-{method}-r{replicate}", cond, state, f"runs/{sweep}/{target}-{method}-r{replicate}", rows
    )


def _study(n=8, seed=0, sweep="paired"):
    rng = random.Random(seed)
    logs = []
    for r in range(n):
        v = 0.32 + rng.gauss(0, 0.01)
        logs.append(_log("vanilla", r, [(0, 0.30), (10, v - 0.01), (20, v)], sweep))
        s = v + rng.gauss(0.01, 0.01)
        logs.append(_log("saerl", r, [(0, 0.30), (10, s), (20, s)], sweep))
    return build(logs)


def test_exported_results_read_back_as_the_same_tables(tmp_path):
    rs = _study()
    export(rs, tmp_path)
    back = load_runs(str(tmp_path))  # auto: a folder with runs.csv + metrics.csv
    want = rs.table[rs.table["metric"].map(kept)].reset_index(drop=True)
    assert "train/grad_norm" not in set(back.table["metric"])  # per-step detail stays in the run folders
    pd.testing.assert_frame_equal(back.table, want, check_exact=False, rtol=1e-5)
    pd.testing.assert_frame_equal(back.runs, rs.runs)
    assert set(pd.read_csv(tmp_path / "metrics.csv").columns) == {"run", "step", "metric", "value"}


def test_exporting_a_sweep_again_replaces_its_rows_and_keeps_the_others(tmp_path):
    export(_study(sweep="paired"), tmp_path)
    export(_study(n=2, sweep="other").only([]), tmp_path)  # nothing of "other" yet: no change
    other = build([_log("vanilla", 0, [(0, 0.3), (20, 0.4)], sweep="other", target="qwen2-s")])
    export(other, tmp_path)
    export(_study(n=3, sweep="paired"), tmp_path)  # the paired sweep re-exported with 3 pairs
    back = load(tmp_path)
    assert back.runs.groupby("sweep")["run"].count().to_dict() == {"other": 1, "paired": 6}
    assert not back.table.duplicated(["run", "step", "metric"]).any()
    assert not list(tmp_path.glob(".*tmp"))


BAD_FILES = [
    (
        "runs.csv",
        lambda t: t.replace("replicate", "rep", 1),
        r"runs.csv: missing column\(s\) \['replicate'\]",
    ),
    (
        "metrics.csv",
        lambda t: t + "nobody,3,eval/average,0.5\n",
        r"rows of run\(s\) not in runs.csv: \['nobody'\]",
    ),
    (
        "metrics.csv",
        lambda t: t.replace("\n", "\nllama-s-saerl-r0,3,eval/average,x\n", 1),
        r"metrics.csv:2: step and value",
    ),
    ("runs.csv", lambda t: t + t.splitlines()[1] + "\n", r"runs.csv: run\(s\) listed twice"),
]


@pytest.mark.parametrize(("file", "edit", "message"), BAD_FILES)
def test_a_bad_results_file_is_named_with_what_is_wrong(tmp_path, file, edit, message):
    export(_study(n=1), tmp_path)
    path = tmp_path / file
    path.write_text(edit(path.read_text()))
    with pytest.raises(ValueError, match=message):
        load(tmp_path)


def test_the_front_table_is_the_paired_analysis_over_replicates():
    rs = _study()
    rows = front_rows(rs)
    assert len(rows) == 1
    row = rows.iloc[0]
    finals = rs.table[(rs.table["metric"] == "eval/average") & (rs.table["step"] == 20)].set_index("run")[
        "value"
    ]
    diffs = [finals[f"llama-s-saerl-r{r}"] - finals[f"llama-s-vanilla-r{r}"] for r in range(8)]
    s = summarize(diffs)
    assert row["pairs"] == 8 and row["before RL"] == "30.0"
    assert (
        row["difference [95% t interval]"] == f"{100 * s.mean:+.1f} [{100 * s.low:+.1f}, {100 * s.high:+.1f}]"
    )
    assert row["sign test (+/-, p)"] == f"{s.positive}/{s.negative}, p = {s.sign_p:.2f}"
    # sweeps without replicates (one curriculum per arm) are not in the paired table
    assert front_rows(
        build([_log("vanilla", None, [(0, 0.3), (20, 0.4)]), _log("saerl", None, [(0, 0.3), (20, 0.5)])])
    ).empty


def test_the_readme_block_is_rewritten_only_between_its_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# t\n\nbefore\n{BEGIN}\nold\n{END}\nafter\n")
    assert write_readme(readme, "| a |\n|---|\n| 1 |")
    assert readme.read_text() == f"# t\n\nbefore\n{BEGIN}\n| a |\n|---|\n| 1 |\n{END}\nafter\n"
    assert not write_readme(readme, "| a |\n|---|\n| 1 |")  # the same table: unchanged
    readme.write_text("# no markers\n")
    with pytest.raises(ValueError, match="no results block"):
        write_readme(readme, "x")
    assert readme.read_text() == "# no markers\n"


def test_saerl_paper_exports_results_and_rewrites_the_readme_table(tmp_path, monkeypatch, capsys):
    from analysis.sources.rundirs import load as load_rundirs  # noqa: F401  (the run-folder source)
    from saerl.cli import main

    results = tmp_path / "results"
    export(_study(), results)
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{BEGIN}\n{END}\n")
    monkeypatch.chdir(tmp_path)
    assert main(["paper", str(results), "--out", str(tmp_path / "paper"), "--readme", str(readme)]) == 0
    assert front_table(load(results)) in readme.read_text()
    assert (tmp_path / "paper" / "paired" / "report.md").is_file()
    # a README without the markers is refused before any report is written
    readme.write_text("# plain\n")
    assert main(["paper", str(results), "--out", str(tmp_path / "p2"), "--readme", str(readme)]) == 2
    assert "no results block" in capsys.readouterr().err and not (tmp_path / "p2").exists()


def test_the_readme_results_table_is_what_make_paper_builds_from_the_committed_results():
    """The README's table is generated: it must equal front_table of analysis/results (or say that
    there are no results yet, when none are committed)."""
    text = (ROOT / "README.md").read_text()
    block = re.search(re.escape(BEGIN) + r"\n(.*)\n" + re.escape(END), text, re.S)
    assert block, "README.md has no results block"
    folder = ROOT / "analysis" / "results"
    want = front_table(load(folder)) if (folder / "runs.csv").exists() else front_table(build([]))
    assert block.group(1) == want, "README.md's results table is stale: run `make paper`"


def test_the_signals_of_each_replicate_are_found_through_its_curriculum_and_summarised(tmp_path, capsys):
    import json

    from analysis.signals_replicates import main as signals_main

    store, runs = tmp_path / "artifacts", tmp_path / "runs" / "paired"
    for r, (sae, meta) in enumerate([(0.40, 0.50), (0.30, 0.52), (0.20, 0.48)]):
        sig = store / "signals" / f"sig{r}"
        sig.mkdir(parents=True)
        corr = {"sae": {"spearman": sae}, "metadata": {"spearman": meta}}
        quality = {"sae": {"auc": 0.8}, "metadata": {"auc": 0.9}, "n_test": 10}
        (sig / "metrics.json").write_text(
            json.dumps({"difficulty": {"out_of_distribution": corr}, "quality": quality})
        )
        cur = store / "curriculum" / f"cur{r}"
        cur.mkdir(parents=True)
        (cur / "manifest.json").write_text(json.dumps({"inputs": [f"data{r}", f"sig{r}"]}))
        run = runs / f"llama-s-saerl-s0-r{r}-abc"
        run.mkdir(parents=True)
        (run / "status.json").write_text(json.dumps({"curriculum": str(cur)}))
    (runs / "llama-s-vanilla-s0-r0-abc").mkdir()  # vanilla has no signals: not counted
    assert signals_main([str(runs), "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("3 signals builds")
    # mean 0.30, sd 0.10, t(2) = 4.303: half-width 0.248
    assert "| difficulty Spearman, out of distribution | sae | 3 | +0.300 | [+0.052, +0.548] |" in out
    assert "| quality AUC | metadata | 3 | +0.900 |" in out
    assert signals_main([str(tmp_path / "nothing"), "--store", str(store)]) == 1
