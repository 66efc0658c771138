"""The local RL backend: order, reward, resume, tracking (TRL GRPOTrainer on the tiny miniature)."""

import json

import pytest
from conftest import RL_OVERRIDES, TINY_OVERRIDES, killed_at_step

from analysis.sources.rundirs import read_metrics as read_jsonl
from saerl.config import load_experiment
from saerl.data.grading import grade_int
from saerl.rl.reward import make_reward, score


def rl_config(tmp_path, *extra):
    return load_experiment(
        overrides=[*TINY_OVERRIDES, *RL_OVERRIDES, f"runs_dir={tmp_path / 'runs'}", "name=t", *extra]
    )


def read_metrics(run):
    return read_jsonl(run / "metrics.jsonl")


def seen_batches(run):
    """step -> ids the reward function scored (the last record per step, after any resume)."""
    rows = [json.loads(line) for line in (run / "order.jsonl").read_text().splitlines()]
    return {r["step"]: r["ids"] for r in rows}


def curriculum_batches(run):
    from saerl.curriculum.stage import read_curriculum

    status = json.loads((run / "status.json").read_text())
    table, _ = read_curriculum(status["curriculum"] + "/curriculum.parquet")
    rows = table.to_pydict()
    out: dict[int, list[str]] = {}
    for b, i in zip(rows["batch"], rows["id"], strict=True):
        out.setdefault(b, []).append(i)
    return out


@pytest.fixture(scope="module")
def finished(tiny, tmp_path_factory):
    from saerl.launch.local import train_run

    _, store = tiny  # GRPO's loss here; the resume test below runs the default, GRPO token-mean
    return train_run(rl_config(tmp_path_factory.mktemp("rl"), "rl.algorithm=grpo"), store)


def test_reward_sees_the_curriculum_batches_in_order(finished):
    seen, batches = seen_batches(finished), curriculum_batches(finished)
    assert sorted(seen) == [0, 1, 2, 3]
    for step, ids in seen.items():
        assert ids == batches[step]


def test_step_zero_eval_and_train_metrics_are_logged(finished):
    rows = read_metrics(finished)
    evals = [r for r in rows if "eval/average" in r]
    assert [r["step"] for r in evals] == [0, 2, 4]
    assert any("train/reward" in r for r in rows)
    assert json.loads((finished / "status.json").read_text())["state"] == "done"
    assert (finished / "config.yaml").exists() and (finished / "git_sha").read_text().strip()


def test_offline_wandb_run_holds_the_same_keys_and_condition(finished):
    from analysis.sources.wandb_offline import find_run_file, read_offline_run

    run = read_offline_run(find_run_file(finished))
    jsonl_keys = {k for r in read_metrics(finished) for k in r}
    wandb_keys = {k for r in run.history for k in r if not k.startswith("_")}
    assert jsonl_keys == wandb_keys
    assert {k: run.config[k] for k in ("sweep", "method", "target_model", "seed")} == {
        "sweep": "t",
        "method": "saerl",
        "target_model": "qwen2-xs",
        "seed": 0,
    }
    assert run.config["curriculum.rho"] == 0.25
    assert run.config["rl.algorithm"] == "grpo"


def test_resume_continues_the_same_stream(tiny, tmp_path, monkeypatch, finished):
    from saerl.launch.local import train_run
    from saerl.rl import trl_backend
    from saerl.rl.run import status

    _, store = tiny
    cfg = rl_config(tmp_path)
    assert cfg.rl.algorithm == "grpo_token_mean"
    real = trl_backend.make_reward
    monkeypatch.setattr(trl_backend, "make_reward", killed_at_step(real, 3))
    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, store)
    (run,) = (tmp_path / "runs" / "t").iterdir()
    assert status(run)["state"] == "failed"
    assert (run / "checkpoints" / "checkpoint-2").exists()
    monkeypatch.setattr(trl_backend, "make_reward", real)
    train_run(cfg, store)
    assert status(run)["state"] == "done"
    steps = [json.loads(line)["step"] for line in (run / "order.jsonl").read_text().splitlines()]
    assert steps == [0, 1, 2, 3, 2, 3]  # killed during step 3, resumed from the step-2 checkpoint
    assert seen_batches(run) == seen_batches(finished)  # same batches, same order as uninterrupted
    # metrics.jsonl was trimmed to the checkpoint when the second attempt started: each step once,
    # each row naming its attempt; and W&B's history holds exactly the same rows.
    rows = read_metrics(run)
    assert [(r["step"], r["attempt"]) for r in rows if "eval/average" in r] == [(0, 1), (2, 1), (4, 2)]
    assert max(r["step"] for r in rows if r["attempt"] == 1) <= 2
    assert wandb_history(run) == metrics_history(run)


def metrics_history(run):
    """(step, metric) -> value from metrics.jsonl, the last row per step winning."""
    return {(r["step"], k): v for r in read_metrics(run) for k, v in r.items() if k != "step"}


def wandb_history(run):
    """The same from every offline W&B file of the run, attempts in time order."""
    from analysis.sources.wandb_offline import read_offline_run

    out = {}
    for file in sorted(run.glob("wandb/offline-run-*/run-*.wandb"), key=lambda f: f.parent.name):
        for row in read_offline_run(file).history:
            out.update({(row["step"], k): v for k, v in row.items() if not k.startswith("_") and k != "step"})
    return out


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        ("7+8=15 w5 c1 #### 85", 1.0),
        ("#### 84", 0.0),
        ("no marker 85", 0.0),
        ("####", 0.0),
        ("", 0.0),
        ("\x00\x01 garbled ####\n####", 0.0),
        (None, 0.0),
    ],
)
def test_reward_on_good_bad_and_garbled_completions(completion, expected):
    assert score(completion, "85", grade_int) == expected


def test_reward_function_matches_trl_contract():
    reward = make_reward("int")
    prompts = [[{"role": "user", "content": "Compute 40+45."}]] * 3
    completions = [[{"role": "assistant", "content": c}] for c in ("#### 85", "#### 86", "junk")]
    assert reward(prompts, completions, answer=["85"] * 3, trainer_state=None, id=["a"] * 3) == [
        1.0,
        0.0,
        0.0,
    ]
    assert make_reward("math")(["p"], ["\\boxed{\\frac{1}{2}}"], answer=["0.5"]) == [1.0]


def test_prompts_per_step_must_equal_the_curriculum_batch(tmp_path):
    from saerl.rl.trl_backend import OrderError, batch_geometry

    cfg = rl_config(tmp_path, "rl.completions_per_device=6").rl
    with pytest.raises(OrderError, match=r"3 prompts per step, but the curriculum's batch size B is 8"):
        batch_geometry(cfg, 8)
    assert batch_geometry(rl_config(tmp_path, "rl.gradient_accumulation_steps=2").rl, 8) == (8, 2)


@pytest.mark.parametrize(
    ("golden", "overrides", "on_gpu"),
    [
        ("grpo_args_default_cpu", [], False),
        (
            "grpo_args_grpo_gpu_accum",
            ["rl.algorithm=grpo", "rl.gradient_accumulation_steps=4", "rl.warmup_steps=5"],
            True,
        ),
    ],
)
def test_grpo_arguments_match_the_golden_file(golden, overrides, on_gpu):
    """The GRPOConfig arguments are a pure function of the RL config; a change here is deliberate."""
    from pathlib import Path

    from trl import GRPOConfig

    from saerl.rl.trl_backend import grpo_args

    cfg = load_experiment(overrides=overrides)
    args = grpo_args(cfg.rl, "OUT", cfg.curriculum.batch_size, on_gpu)
    expected = json.loads((Path(__file__).parent / "golden" / f"{golden}.json").read_text())
    assert args == expected
    if not on_gpu:
        GRPOConfig(**{**args, "output_dir": "/tmp/unused"})  # TRL accepts every argument


def test_a_torn_checkpoint_is_moved_aside_and_the_run_finishes(tiny, tmp_path, finished):
    """The state a kill while saving checkpoint-4 leaves (no trainer_state.json, a 0-byte optimizer
    file): the rerun resumes from checkpoint-2, trains batches 2 and 3 again, and finishes."""
    import shutil

    from saerl.launch.local import train_run

    _, store = tiny
    cfg = rl_config(tmp_path, "rl.algorithm=grpo")  # the identity of `finished`: same folder name
    run = tmp_path / "runs" / "t" / finished.name
    shutil.copytree(finished, run)
    torn = run / "checkpoints" / "checkpoint-4"
    (torn / "trainer_state.json").unlink()
    (torn / "optimizer.pt").write_bytes(b"")
    (run / "status.json").write_text(json.dumps({"state": "running"}))
    train_run(cfg, store)
    assert json.loads((run / "status.json").read_text())["state"] == "done"
    assert list((run / "checkpoints").glob("broken-checkpoint-4-*"))
    assert (run / "checkpoints" / "checkpoint-4" / "trainer_state.json").exists()
    steps = [json.loads(line)["step"] for line in (run / "order.jsonl").read_text().splitlines()]
    assert steps == [0, 1, 2, 3, 2, 3]
    assert seen_batches(run) == seen_batches(finished)


def test_several_updates_per_batch_change_the_update_and_overlong_shaping_enters_the_reward(
    tiny, tmp_path, monkeypatch
):
    """rl.updates_per_batch=2 makes two optimizer updates per curriculum batch (TRL's num_iterations:
    the second sees an importance ratio != 1, so clipping can act); steps, logs and the order audit
    still count curriculum batches. The overlong penalty is TRL's DAPO reward, added to ours. The
    tiny model never answers right, so a reward with variance stands in for the grader here."""
    from safetensors.torch import load_file
    from trl.rewards import get_soft_overlong_punishment

    from saerl.launch.local import train_run
    from saerl.rl import trl_backend

    def varied(kind):
        def reward(prompts, completions, **kw):
            return [float(len(str(c)) % 2) for c in completions]

        return reward

    monkeypatch.setattr(trl_backend, "make_reward", varied)
    _, store = tiny
    common = ["rl.steps=2", "rl.eval_every=2", "rl.save_every=2", "rl.max_completion_length=12"]
    runs = {
        "mu1": train_run(rl_config(tmp_path / "a", *common), store),
        "mu2": train_run(rl_config(tmp_path / "b", *common, "rl.updates_per_batch=2"), store),
        "mu2+overlong": train_run(
            rl_config(tmp_path / "c", *common, "rl.updates_per_batch=2", "rl.overlong_buffer=10"), store
        ),
    }
    assert seen_batches(runs["mu2"]) == seen_batches(runs["mu1"])  # the same two batches, once each
    assert sorted(seen_batches(runs["mu2"])) == [0, 1]
    assert [r["step"] for r in read_metrics(runs["mu2"]) if "eval/average" in r] == [0, 2]
    state = json.loads((runs["mu2"] / "checkpoints" / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4  # two updates per batch
    weights = {
        name: load_file(str(next((run / "checkpoints").glob("checkpoint-*")) / "model.safetensors"))
        for name, run in runs.items()
    }
    assert any(not (weights["mu1"][k] == weights["mu2"][k]).all() for k in weights["mu1"])
    # The penalty is in the reward the trainer optimises. Every tiny completion runs to the length
    # limit, so here it is a constant -1, which group normalisation cancels: it changes the update
    # only where completion lengths within a group differ (the penalty itself is checked below).
    rows = [r for r in read_metrics(runs["mu2+overlong"]) if "train/reward" in r]
    for r in rows:
        shaped = r["train/rewards/soft_overlong_punishment_reward/mean"]
        assert r["train/completions/mean_length"] == 12 and shaped == -1.0
        assert r["train/reward"] == pytest.approx(r["train/rewards/reward/mean"] + shaped)
    penalty = get_soft_overlong_punishment(8, 4)
    assert penalty(completion_ids=[[1] * 4, [1] * 6, [1] * 8]) == [0.0, -0.5, -1.0]


def test_the_sft_baseline_trains_for_its_time_budget_and_reports_as_method_sft(tiny, tmp_path):
    """rl.algorithm=sft: supervised fine-tuning on the curriculum's prompts and solutions for
    rl.sft_seconds, evaluated at step 0 and at rl.steps like an RL run; the report shows an sft row."""
    from analysis.report import write_report
    from analysis.sources import rundirs
    from saerl.launch.local import train_run
    from saerl.models.loading import load_model

    _, store = tiny
    cfg = rl_config(tmp_path, "curriculum.mode=vanilla", "rl.algorithm=sft", "rl.sft_seconds=3")
    run = train_run(cfg, store)
    assert json.loads((run / "status.json").read_text())["state"] == "done"
    assert json.loads((run / "condition.json").read_text())["method"] == "sft"
    rows = read_metrics(run)
    evals = [r for r in rows if "eval/average" in r]
    assert [r["step"] for r in evals] == [0, cfg.rl.steps]
    last = evals[-1]
    assert last["train/sft_seconds"] >= 3 and last["train/sft_steps"] > 0
    assert any("train/sft_loss" in r for r in rows) or last["train/sft_steps"] < 10
    before = load_model(json.loads((run / "status.json").read_text())["target"], "cpu")
    after = load_model(run / "model", "cpu")
    changed = any((a != b).any() for a, b in zip(after.parameters(), before.parameters(), strict=True))
    assert changed  # it trained
    text = write_report(rundirs.load(tmp_path / "runs"), tmp_path / "rep", n_boot=10).read_text()
    assert "| qwen2-xs | sft | 1 |" in (tmp_path / "rep" / "tables" / "main.md").read_text(), text


def test_the_sft_baseline_needs_a_budget_and_the_trl_backend():
    with pytest.raises(ValueError, match="sft_seconds: algorithm=sft needs a wall-clock budget"):
        load_experiment(overrides=["rl.algorithm=sft"])
    with pytest.raises(ValueError, match="trl backend only"):
        load_experiment(overrides=["rl.algorithm=sft", "rl.sft_seconds=10", "rl.backend=openrlhf"])


def test_a_resume_says_tied_weights_are_expected_and_still_reports_other_missing_keys():
    import logging

    from transformers import Qwen2Config, Qwen2ForCausalLM

    from saerl.rl.trl_backend import TiedKeysOnResume

    config = Qwen2Config(
        vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=2, tie_word_embeddings=True,
    )  # fmt: skip

    class Keep(logging.Handler):
        def __init__(self):
            super().__init__(logging.INFO)
            self.records = []

        def emit(self, record):
            self.records.append(record)

    trainer_log, ours = logging.getLogger("transformers.trainer"), logging.getLogger("saerl.rl.trl_backend")
    kept, levels = Keep(), (trainer_log.level, ours.level)
    quiet = TiedKeysOnResume(Qwen2ForCausalLM(config))
    trainer_log.addFilter(quiet)
    for logger in (trainer_log, ours):
        logger.addHandler(kept)
        logger.setLevel(logging.INFO)  # earlier trainers in this process may have raised it
    try:
        trainer_log.warning("There were missing keys in the checkpoint model loaded: ['lm_head.weight'].")
        trainer_log.warning("There were missing keys in the checkpoint model loaded: ['model.norm.weight'].")
    finally:
        trainer_log.removeFilter(quiet)
        for logger, level in zip((trainer_log, ours), levels, strict=True):
            logger.removeHandler(kept)
            logger.setLevel(level)
    warnings = [r.getMessage() for r in kept.records if r.levelno == logging.WARNING]
    assert warnings == ["There were missing keys in the checkpoint model loaded: ['model.norm.weight']."]
    assert any("lm_head.weight tied to the input embeddings" in r.getMessage() for r in kept.records)
