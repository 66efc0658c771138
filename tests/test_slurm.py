"""The launcher on a real Slurm: the two-node cluster of slurm/up.sh (`make slurm-up`; CI starts it).

Without a running Slurm these tests skip, saying so; with SAERL_REQUIRE_SLURM=1 (CI) they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from conftest import RL_OVERRIDES, TINY_OVERRIDES

from saerl.launch.submissions import SubmissionRecord, job_states

ROOT = Path(__file__).parent.parent


def _slurm_up() -> bool:
    if shutil.which("sinfo") is None:
        return False
    out = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True, check=False)
    return out.returncode == 0 and any(s.startswith(("idle", "mix", "alloc")) for s in out.stdout.split())


if not _slurm_up():
    if os.environ.get("SAERL_REQUIRE_SLURM"):
        raise RuntimeError("SAERL_REQUIRE_SLURM is set but no Slurm answers (start it: make slurm-up)")
    pytest.skip("no Slurm running here (make slurm-up starts a two-node one)", allow_module_level=True)


def write_sweep(path: Path, name: str, store: Path, runs: Path, extra: list[str], grid: dict) -> Path:
    overrides = [*TINY_OVERRIDES, *RL_OVERRIDES, f"store_dir={store}", f"runs_dir={runs}", *extra]
    path.write_text(yaml.safe_dump({"name": name, "overrides": overrides, "grid": grid}, sort_keys=False))
    return path


def sweep_jobs(store: Path, sweep: str) -> dict[str, str]:
    """job id -> node label of every job the record holds for ``sweep``."""
    return {s.job_id: s.label for s in SubmissionRecord(store).latest().values() if s.sweep == sweep}


def wait_for(store: Path, sweep: str, timeout: float = 600) -> dict[str, str]:
    """Until no job of the sweep is pending or running; returns job id -> final Slurm state."""
    from saerl.launch.submissions import ACTIVE

    deadline = time.time() + timeout
    while time.time() < deadline:
        states = job_states(sweep_jobs(store, sweep))
        # UNKNOWN: gone from squeue, not yet in sacct (slurmdbd lags a cancel under load): not final
        if states and not any(s in ACTIVE or s == "UNKNOWN" for s in states.values()):
            return states
        time.sleep(2)
    raise TimeoutError(
        f"jobs of {sweep} still active after {timeout} s: {job_states(sweep_jobs(store, sweep))}"
    )


def make_sweep(sweep_file: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "-s", "sweep", f"SWEEP={sweep_file}", "CLUSTER=local-slurm", *extra],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip


N_STEPS = 24
INTERRUPTED = [
    *(f"rl.steps={N_STEPS}", "rl.save_every=4", "rl.eval_every=12", "curriculum.mode=vanilla"),
    "data.arith.n_train=400",  # 24 batches of 8 need 192+ prompts after the filter
    # The tiny model's answers are all wrong: overlong shaping makes a group's rewards differ, so
    # the weights really move and equal final checkpoints mean something.
    *("rl.overlong_buffer=6", "rl.lr=1e-3", "rl.seed=7"),
]
"""The run the interruption tests (requeue, preemption signal, kill -9) interrupt, each in its own
sweep; `twin` trains it once without interruption."""


@pytest.fixture(scope="module")
def twin(cluster_sweep, tmp_path_factory):
    _, store, _, _, _ = cluster_sweep
    root = tmp_path_factory.mktemp("twin")
    sweep = write_sweep(root / "twin.yaml", "twin", store, root / "runs", INTERRUPTED, {"rl.seed": [7]})
    assert make_sweep(sweep).returncode == 0
    return store, root / "runs" / "twin"


def assert_same_final_checkpoint(run: Path, twin) -> None:
    store, folder = twin
    wait_for(store, "twin", timeout=400)
    (twin_run,) = folder.glob("qwen2-xs-vanilla-s7-*")
    final = f"checkpoints/checkpoint-{N_STEPS}/model.safetensors"
    assert (run / final).read_bytes() == (twin_run / final).read_bytes()
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert max(r.get("train/grad_norm", 0) for r in rows) > 0  # the weights moved


def start_interrupted_run(tmp_path: Path, store: Path, name: str) -> tuple[Path, Path, str]:
    """Submit the INTERRUPTED run in its own sweep and wait until it has saved checkpoint 4:
    (sweep file, run folder, job id)."""
    runs = tmp_path / "runs"
    sweep = write_sweep(tmp_path / f"{name}.yaml", name, store, runs, INTERRUPTED, {"rl.seed": [7]})
    assert make_sweep(sweep).returncode == 0
    (job,) = [j for j, label in sweep_jobs(store, name).items() if label.startswith("run ")]
    deadline, run = time.time() + 400, None
    while time.time() < deadline and run is None:
        found = list((runs / name).glob("qwen2-xs-vanilla-s7-*/checkpoints/checkpoint-4/trainer_state.json"))
        run = found[0].parents[2] if found else None
        time.sleep(0.5)
    assert run is not None, f"run did not reach checkpoint 4: {job_states([job])}"
    return sweep, run, job


def assert_history_agrees(run: Path, n_steps: int) -> None:
    """metrics.jsonl, the W&B offline history (every attempt) and order.jsonl agree step for step:
    the same rows in metrics.jsonl and W&B (the last per step), every step trained and scored."""
    from test_rl import metrics_history, wandb_history

    metrics, wandb = metrics_history(run), wandb_history(run)
    assert wandb == metrics, sorted(set(wandb.items()) ^ set(metrics.items()))[:6]
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    trained = sorted({r["step"] for r in rows if "train/reward" in r})
    scored = sorted({json.loads(line)["step"] for line in (run / "order.jsonl").read_text().splitlines()})
    assert trained == [s + 1 for s in scored] == list(range(1, n_steps + 1))  # step k trains batch k-1


@pytest.fixture(scope="module")
def cluster_sweep(tmp_path_factory):
    """A reduced miniature: two SAERL runs (seeds 0, 1) sharing one SAE, 4 RL steps each."""
    root = tmp_path_factory.mktemp("slurm")
    store, runs = root / "store", root / "runs"
    sweep = write_sweep(root / "mini.yaml", "mini", store, runs, [], {"rl.seed": [0, 1]})
    first = make_sweep(sweep)
    assert first.returncode == 0, first.stderr
    states = wait_for(store, "mini")
    return sweep, store, runs, first.stdout, states


def test_reduced_sweep_runs_as_slurm_jobs_with_arrays_and_dependencies(cluster_sweep):
    _, store, runs, out, states = cluster_sweep
    assert "submitted 12 job(s)" in out  # 10 stage jobs + one array of two runs
    assert set(states.values()) == {"COMPLETED"}, states
    jobs = sweep_jobs(store, "mini")
    array_tasks = sorted(j for j in jobs if "_" in j)
    assert len(array_tasks) == 2 and len({j.split("_")[0] for j in array_tasks}) == 1  # one array, two runs
    acct = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-o", "JobID,JobName,State", "-j", array_tasks[0].split("_")[0]],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert {line.split("|")[0] for line in acct.splitlines()} == set(array_tasks)
    logs = runs / "mini" / "slurm-logs"
    script = (logs / f"{array_tasks[0].split('_')[0]}_submission.sh").read_text()
    assert "#SBATCH --dependency=afterok:" in script and "#SBATCH --array=0-1%2" in script
    sae_job = next(j for j, label in jobs.items() if label == "sae")
    sae_script = (logs / f"{sae_job}_submission.sh").read_text()
    assert "#SBATCH --dependency=afterok:" in sae_script  # waits for the activations job


def test_cluster_runs_are_the_runs_saerl_study_would_make(cluster_sweep):
    from saerl.launch.sweep import read_sweep, sweep_graphs

    sweep, _, runs, _, _ = cluster_sweep
    expected = sorted(g.run.params["name"] for g in sweep_graphs(read_sweep(sweep)))
    done = sorted(p.parent.name for p in (runs / "mini").glob("*/status.json"))
    assert done == expected
    for name in done:
        assert json.loads((runs / "mini" / name / "status.json").read_text())["state"] == "done"
    study = subprocess.run(
        [str(ROOT / ".venv/bin/saerl"), "study", str(sweep)], cwd=ROOT, capture_output=True, text=True
    )
    assert study.returncode == 0, study.stderr
    assert "building" not in study.stderr  # every stage and run was already there
    report = subprocess.run(
        [str(ROOT / ".venv/bin/saerl"), "report", str(runs / "mini"), "--out", str(runs / "report")],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    assert "## Main table" in (runs / "report" / "report.md").read_text()


def test_submitting_again_submits_nothing(cluster_sweep):
    sweep, store, _, _, _ = cluster_sweep
    before = SubmissionRecord(store).path.read_text()
    again = make_sweep(sweep)
    assert again.returncode == 0, again.stderr
    assert "submitted 0 job(s)" in again.stdout
    assert SubmissionRecord(store).path.read_text() == before


@pytest.fixture
def wandb_service(monkeypatch):
    """A real detached wandb-core service whose token is in the environment, as in a shell that ran
    `export WANDB_SERVICE="$(wandb beta core start)"` or a process after wandb.init: sbatch exports
    the token to the jobs, where it must not be used (another host, and a killed attempt's stream
    stays open in it)."""
    wandb_cli = str(ROOT / ".venv/bin/wandb")
    start = [wandb_cli, "beta", "core", "start", "--idle-timeout", "15m"]
    clean = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}  # start refuses if one is set
    token = subprocess.run(start, capture_output=True, text=True, check=True, env=clean).stdout.strip()
    assert token.startswith("3-"), token
    monkeypatch.setenv("WANDB_SERVICE", token)
    yield token
    stop = [wandb_cli, "beta", "core", "stop"]
    subprocess.run(stop, capture_output=True, check=False, env={**clean, "WANDB_SERVICE": token})


def test_a_requeued_run_resumes_and_trains_every_batch_once(cluster_sweep, twin, wandb_service, tmp_path):
    """`scontrol requeue` kills the run mid-training; the job restarts, resumes from the last
    complete checkpoint, finishes, and keeps one W&B run. The run is long enough (24 steps) that
    the kill (SIGKILL after Slurm's KillWait of 5 s) lands while it trains. The submitting shell
    has a W&B service token in its environment (`wandb_service`)."""
    from saerl.curriculum.stage import read_curriculum

    _, store, _, _, _ = cluster_sweep
    n_steps = N_STEPS
    _, run, job = start_interrupted_run(tmp_path, store, "rq")
    subprocess.run(["scontrol", "requeue", job], check=True)
    states = wait_for(store, "rq", timeout=500)
    assert states[job] == "COMPLETED"
    attempts = subprocess.run(
        ["sacct", "-D", "-X", "-n", "-P", "-o", "JobID,State", "-j", job], capture_output=True, text=True
    ).stdout  # fmt: skip
    assert "REQUEUED" in attempts, attempts
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "done"
    steps = [json.loads(line)["step"] for line in (run / "order.jsonl").read_text().splitlines()]
    restart = next(i for i in range(1, len(steps)) if steps[i] <= steps[i - 1])
    assert steps[restart] % 4 == 0 and steps[restart] >= 4  # resumed from a checkpoint
    assert steps[:restart] == list(range(restart)) and steps[restart:] == list(range(steps[restart], n_steps))
    table, _ = read_curriculum(Path(status["curriculum"]) / "curriculum.parquet")
    ids, batches = table.column("id").to_pylist(), table.column("batch").to_pylist()
    last = {
        json.loads(line)["step"]: json.loads(line)["ids"]
        for line in (run / "order.jsonl").read_text().splitlines()
    }
    for step in range(n_steps):  # the update that was kept for each step saw exactly its batch
        assert last[step] == [i for i, b in zip(ids, batches, strict=True) if b == step]
    attempts_dirs = list((run / "wandb").glob("offline-run-*"))
    assert len(attempts_dirs) == 2 and len({p.name.rsplit("-", 1)[-1] for p in attempts_dirs}) == 1
    assert_history_agrees(run, n_steps)
    assert_same_final_checkpoint(run, twin)


def test_a_failing_stage_fails_with_its_log_and_cancels_its_dependents(cluster_sweep, tmp_path):
    _, store, _, _, _ = cluster_sweep
    runs = tmp_path / "runs"
    # Prompts cut to one token leave none once the chat template's special tokens are masked: only the
    # activations job can find that out (what a config or model refutes is refused at submission).
    bad = ["activations.max_length=1"]
    sweep = write_sweep(tmp_path / "bad.yaml", "bad", store, runs, bad, {"rl.seed": [0]})
    assert make_sweep(sweep).returncode == 0
    states = wait_for(store, "bad", timeout=300)
    jobs = sweep_jobs(store, "bad")
    by_label = {label: states[j] for j, label in jobs.items()}
    assert by_label["activations"] == "FAILED"
    assert not any(s in ("PENDING", "RUNNING") for s in states.values())
    assert by_label["sae"].startswith("CANCELLED") and any(k.startswith("run ") for k in by_label)
    status = subprocess.run(
        [str(ROOT / ".venv/bin/saerl"), "status", str(sweep)], cwd=ROOT, capture_output=True, text=True
    )
    assert status.returncode == 0, status.stderr
    (row,) = [line for line in status.stdout.splitlines() if " activations " in line]
    log = Path(row.split("(log: ")[1].rstrip(")"))
    assert "no prompt tokens left after masking" in log.read_text()
    # `saerl status` reads each job against its node: the dependents name the job that failed them
    # and print no log (they never ran); nodes built by their jobs read as built.
    act_job = next(j for j, label in jobs.items() if label == "activations")
    rows = {line.split()[2]: line for line in status.stdout.splitlines() if line.strip()[:1].isdigit()}
    assert f"CANCELLED because input job {act_job} (activations) FAILED" in rows["sae"]
    assert "(log: " not in rows["sae"]
    assert rows["data"].rstrip().endswith("built")
    # A resubmit says why each node goes out again.
    again = make_sweep(sweep)
    assert again.returncode == 0, again.stderr
    assert f"submitted (previous job {act_job} FAILED)" in again.stdout
    wait_for(store, "bad", timeout=300)


def test_an_impossible_request_fails_at_submission_with_a_clear_message(tmp_path):
    profile = tmp_path / "too-long.yaml"
    profile.write_text(
        "partition: debug\nmax_nodes: 2\ngpus_per_node: 0\n"
        "cpu: {time_min: 600}\ngpu: {time_min: 600}\nmulti_gpu: {nodes: 1, time_min: 600}\n"
    )
    sweep = write_sweep(tmp_path / "s.yaml", "nope", tmp_path / "st", tmp_path / "r", [], {"rl.seed": [0]})
    out = subprocess.run(
        [str(ROOT / ".venv/bin/saerl"), "sweep", str(sweep), f"CLUSTER={profile}"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 2
    assert "Slurm refused the job for data (600 min" in out.stderr
    assert "Requested time limit is invalid" in out.stderr
    assert "Traceback" not in out.stderr


def test_cancel_stops_every_pending_job_of_the_sweep(tmp_path):
    sweep = write_sweep(
        tmp_path / "c.yaml", "cancelme", tmp_path / "st", tmp_path / "r", [], {"rl.seed": [0]}
    )
    assert make_sweep(sweep).returncode == 0
    out = subprocess.run(
        [str(ROOT / ".venv/bin/saerl"), "cancel", str(sweep)], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("cancelled ")
    states = wait_for(tmp_path / "st", "cancelme", timeout=120)
    assert any(s.startswith("CANCELLED") for s in states.values())
    assert not any(s in ("PENDING", "RUNNING") for s in states.values())


def test_cancelling_one_sweep_keeps_the_shared_jobs_another_sweep_waits_on(tmp_path):
    """Two sweeps on one store share every stage (they differ in the RL seed only): the second
    one's runs wait on the first one's stage jobs. Cancelling the first cancels its own run and
    keeps the shared stages, naming who needs them; the second sweep's run is not cancelled."""
    store, runs = tmp_path / "st", tmp_path / "r"
    first = write_sweep(tmp_path / "a.yaml", "share-a", store, runs, [], {"rl.seed": [0]})
    second = write_sweep(tmp_path / "b.yaml", "share-b", store, runs, [], {"rl.seed": [1]})
    assert make_sweep(first).returncode == 0
    out_b = make_sweep(second)
    assert out_b.returncode == 0
    # share-a's jobs, already queued, read as Slurm has them (running or pending), not 'queued'
    job_cells = [line.rsplit("  ", 1)[-1] for line in out_b.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert not any(c.endswith("queued") for c in job_cells)
    assert any(c.endswith(("pending", "running")) for c in job_cells), out_b.stdout
    b_jobs = sweep_jobs(store, "share-b")
    assert [label.split()[0] for label in b_jobs.values()] == ["run"], b_jobs  # the stages are share-a's
    out = subprocess.run(
        [str(ROOT / ".venv/bin/saerl"), "cancel", str(first)], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    a_jobs = sweep_jobs(store, "share-a")
    kept = [line for line in out.stdout.splitlines() if line.startswith("kept ")]
    assert kept and all("(share-b: run qwen2-xs-saerl-s1-" in line for line in kept)
    states = job_states([*a_jobs, *b_jobs])
    (b_run,) = b_jobs
    assert not states[b_run].startswith("CANCELLED")  # the other sweep's run survives
    a_run = next(j for j, label in a_jobs.items() if label.startswith("run "))
    assert states[a_run].startswith("CANCELLED") or states[a_run] == "UNKNOWN"
    again = subprocess.run(
        [str(ROOT / ".venv/bin/saerl"), "cancel", str(second)], cwd=ROOT, capture_output=True, text=True
    )
    assert again.returncode == 0 and "kept" not in again.stdout  # nothing else waits on them now
    wait_for(store, "share-b", timeout=120)


def test_cancel_splits_jobs_by_who_waits_on_them():
    from saerl.launch.submissions import split_cancel

    deps = {"12_0": {"10", "11"}, "20_0": {"11"}, "11": {"10"}, "30": {"31"}}
    cancel, keep = split_cancel({"10", "11", "12_0"}, {"20_0", "30"}, deps)
    assert cancel == ["12_0"] and keep == {"10": ["20_0"], "11": ["20_0"]}  # 10 through 11
    assert split_cancel({"10"}, set(), {}) == (["10"], {})


def test_a_preempted_run_reads_requeued_not_failed_and_finishes_on_its_next_attempt(
    cluster_sweep, twin, tmp_path
):
    """The preemption signal (USR2, what Slurm sends before a time limit or a preemption): submitit
    requeues the job; status.json says `requeued` in between (not `failed / SystemExit`), the log
    says so in one line without a traceback, and the next attempt finishes the run."""
    _, store, _, _, _ = cluster_sweep
    n_steps = N_STEPS
    _, run, job = start_interrupted_run(tmp_path, store, "pre")
    subprocess.run(["scancel", "--signal=USR2", job], check=True)
    seen, deadline = set(), time.time() + 120
    while time.time() < deadline and "requeued" not in seen:
        seen.add(json.loads((run / "status.json").read_text())["state"])
        time.sleep(0.2)
    assert "requeued" in seen and "failed" not in seen, seen
    wait_for(store, "pre", timeout=500)
    assert json.loads((run / "status.json").read_text())["state"] == "done"
    log = Path(
        SubmissionRecord(store)
        .latest()[next(i for i, s in SubmissionRecord(store).latest().items() if s.job_id == job)]
        .stderr
    ).read_text()
    assert "preempted; requeued, it resumes from its last checkpoint" in log
    assert "Traceback" not in log
    assert_history_agrees(run, n_steps)
    assert_same_final_checkpoint(run, twin)


def _threads_in_job() -> dict:
    """Runs inside a Slurm job: the thread settings a NodeJob applies, then torch's thread count."""
    from saerl.launch.jobs import use_allocated_cpus

    set_to = use_allocated_cpus()
    import torch

    return {"set": set_to, "torch": torch.get_num_threads(), "omp": os.environ.get("OMP_NUM_THREADS")}


def test_a_job_runs_as_many_torch_threads_as_the_cpus_it_asked_for(tmp_path):
    import submitit

    ex = submitit.SlurmExecutor(folder=tmp_path / "logs", max_num_timeout=0)
    ex.update_parameters(nodes=1, ntasks_per_node=1, cpus_per_task=1, mem="1000MB", time=5, partition="debug")
    ex.update_parameters(setup=[f"export PYTHONPATH={Path(__file__).parent}"])
    out = ex.submit(_threads_in_job).result()
    assert out == {"set": 1, "torch": 1, "omp": "1"}  # the nodes have 2 CPUs: torch would take 2


def test_a_profile_claiming_more_than_the_nodes_have_is_named_before_anything_is_submitted(tmp_path):
    """The nodes have 8000 MB (slurm/up.sh): a profile saying 8 GB (8192 MB) passes its own checks,
    and sbatch would refuse its 8 GB requests; sinfo's sizes catch it. The shipped profile fits."""
    bad = yaml.safe_load((ROOT / "slurm/local-slurm.yaml").read_text()) | {"mem_gb_per_node": 8}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    sweep = write_sweep(tmp_path / "s.yaml", "prof", tmp_path / "st", tmp_path / "r", [], {"rl.seed": [0]})
    saerl = str(ROOT / ".venv/bin/saerl")
    out = subprocess.run(
        [saerl, "sweep", str(sweep), f"CLUSTER={tmp_path / 'bad.yaml'}", "DRY_RUN=1"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "mem_gb_per_node=8 (8192 MB) but the nodes of partition debug (sinfo) have 8000 MB" in out.stderr
    ok = subprocess.run(
        [saerl, "plan", str(sweep), "CLUSTER=local-slurm"], cwd=ROOT, capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr


def test_a_run_killed_with_sigkill_resumes_on_resubmit_with_one_history(cluster_sweep, twin, tmp_path):
    """kill -9 of the training process mid-run (no signal handler, no flush): the job fails; the
    next `make sweep` resubmits the run, which resumes from its last checkpoint; metrics.jsonl and
    W&B agree step for step, the first attempt's rows past the checkpoint were dropped, and its final
    checkpoint is byte for byte an uninterrupted twin run's. Overlong shaping makes the rewards of a
    group differ (the tiny model's answers are all wrong), so the weights really move."""
    import signal

    _, store, _, _, _ = cluster_sweep
    n_steps = N_STEPS
    sweep, run, _ = start_interrupted_run(tmp_path, store, "k9")
    pid = int((run / ".lock").read_text().split()[1])
    os.kill(pid, signal.SIGKILL)
    wait_for(store, "k9", timeout=300)
    again = make_sweep(sweep)
    assert again.returncode == 0 and "submitted 1 job(s)" in again.stdout, again.stdout
    wait_for(store, "k9", timeout=500)
    assert json.loads((run / "status.json").read_text())["state"] == "done"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    first = [r["step"] for r in rows if r["attempt"] == 1]
    assert first and max(first) % 4 == 0 and {r["attempt"] for r in rows} == {1, 2}, first
    writers: dict[tuple[int, str], set[int]] = {}
    for r in rows:
        for k in r:
            writers.setdefault((r["step"], k), set()).add(r["attempt"])
    assert all(len(a) == 1 for a in writers.values())  # no step's metric from both attempts
    assert_same_final_checkpoint(run, twin)
    assert_history_agrees(run, n_steps)
