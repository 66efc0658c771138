"""OpenRLHF 0.11.2 command lines: rendered by saerl, parsed by OpenRLHF's own parser (read from its
wheel with ast, never installed here), golden-tested, and cross-flag errors caught early.

The wheel is looked up in $SAERL_OPENRLHF_WHEEL or ~/.cache/saerl/wheels (`.ci/run` downloads it
with `pip download --no-deps openrlhf==0.11.2`); without it these tests skip, saying so, unless
SAERL_REQUIRE_OPENRLHF=1 (CI), where they fail.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import pytest

from saerl.config import load_experiment
from saerl.launch.sweep import read_sweep, sweep_graphs
from saerl.rl.openrlhf.command import CommandError, RunPaths, check_command, parser_from_wheel, render_command

ROOT = Path(__file__).parent.parent
GOLDEN = Path(__file__).parent / "golden"
PATHS = RunPaths("/models/target", "/run/prompts.jsonl", "/run/evals.jsonl", "/run/reward.py", "/run/ckpt")


def _wheel() -> Path | None:
    if env := os.environ.get("SAERL_OPENRLHF_WHEEL"):
        return Path(env)
    found = sorted((Path.home() / ".cache" / "saerl" / "wheels").glob("openrlhf-0.11.2-*.whl"))
    return found[-1] if found else None


@pytest.fixture(scope="module")
def wheel() -> Path:
    found = _wheel()
    if found is None or not found.is_file():
        if os.environ.get("SAERL_REQUIRE_OPENRLHF"):
            pytest.fail("SAERL_REQUIRE_OPENRLHF is set but no openrlhf 0.11.2 wheel was found")
        pytest.skip(
            "no openrlhf 0.11.2 wheel (pip download --no-deps openrlhf==0.11.2 -d ~/.cache/saerl/wheels)"
        )
    return found


@pytest.fixture(scope="module")
def parser(wheel):
    return parser_from_wheel(wheel)


def parse(parser, argv):
    try:
        return vars(parser.parse_args(argv))
    except SystemExit as exc:  # argparse's way of rejecting a command line
        raise AssertionError(f"OpenRLHF's parser rejected: {shlex.join(argv)}") from exc


def test_the_real_parser_is_read_from_the_wheel(parser):
    flags = {s for a in parser._actions for s in a.option_strings}
    assert len(flags) > 160 and "--algo.advantage.estimator" in flags
    assert "--use_wandb" not in flags  # the pre-0.10.2 flat flags are gone


RL_SWEEPS = [p for p in sorted((ROOT / "sweeps").glob("*.yaml")) if "rl.algorithm=sft" not in p.read_text()]
"""Every shipped sweep that trains with RL (the SFT baseline has no OpenRLHF form)."""


@pytest.mark.parametrize("sweep_file", RL_SWEEPS, ids=lambda p: p.stem)
def test_every_shipped_sweep_renders_lines_openrlhf_parses(parser, sweep_file):
    for g in sweep_graphs(read_sweep(sweep_file, ["rl.backend=openrlhf"])):
        rl, B = g.cfg.rl, g.cfg.curriculum.batch_size
        check_command(rl, B)
        args = parse(parser, render_command(rl, B, PATHS, g.cfg.name, g.run.params["name"]))
        assert args["rollout.batch_size"] == B and args["rollout.n_samples_per_prompt"] == rl.num_generations
        assert args["train.batch_size"] == B * rl.num_generations
        assert args["algo.advantage.estimator"] == "group_norm"
        assert args["eval.temperature"] == 0 and args["eval.n_samples_per_prompt"] == 1
        assert args["actor.adam.lr"] == rl.lr and args["ckpt.load_enable"]
        assert not args["algo.dynamic_filtering_enable"]  # keeps steps on curriculum batches


def test_dapo_and_grpo_render_their_own_losses(parser):
    dapo_rl = load_experiment(
        overrides=["rl.algorithm=dapo", "rl.updates_per_batch=2", "rl.overlong_buffer=16"]
    ).rl
    dapo = parse(parser, render_command(dapo_rl, 32, PATHS))
    assert dapo["actor.eps_clip_low_high"] == [0.2, 0.28] and dapo["actor.loss_agg_mode"] == "token-mean"
    assert dapo["reward.overlong_buffer_len"] == 16 and dapo["algo.kl.init_coef"] == 0
    assert dapo["train.max_epochs"] == 2  # two policy updates per rollout batch: the clip can act
    grpo_rl = load_experiment(overrides=["rl.algorithm=grpo", "rl.kl_coef=0.001"]).rl
    grpo = parse(parser, render_command(grpo_rl, 32, PATHS))
    assert grpo["actor.eps_clip_low_high"] is None and grpo["algo.kl.use_loss"]
    assert grpo["algo.kl.init_coef"] == 0.001 and grpo["actor.loss_agg_mode"] == "seq-mean-token-mean"
    tm = parse(
        parser, render_command(load_experiment(overrides=["rl.algorithm=grpo_token_mean"]).rl, 32, PATHS)
    )
    assert tm["actor.eps_clip_low_high"] is None and tm["actor.loss_agg_mode"] == "token-mean"


def test_no_arm_is_called_dapo_unless_dapos_clip_can_act():
    """With one policy update per rollout batch the importance ratio is 1 and clip-higher never acts:
    such an arm is GRPO with a token-mean loss and must be named so (rl.algorithm=grpo_token_mean).
    The config refuses it; every committed sweep loads, and none has such an arm."""
    with pytest.raises(ValueError, match="'dapo' needs updates_per_batch > 1"):
        load_experiment(overrides=["rl.algorithm=dapo"])
    for sweep_file in sorted((ROOT / "sweeps").glob("*.yaml")):
        for g in sweep_graphs(read_sweep(sweep_file)):
            rl = g.cfg.rl
            assert rl.algorithm != "dapo" or rl.updates_per_batch > 1, (sweep_file.name, g.run.params["name"])


def test_the_wandb_key_flag_carries_a_placeholder_that_openrlhf_accepts(parser, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "secret-key-never-rendered")
    argv = render_command(load_experiment(overrides=["rl.wandb=online"]).rl, 32, PATHS, "g", "r")
    assert "secret-key-never-rendered" not in " ".join(argv)
    key = parse(parser, argv)["logger.wandb.key"]
    assert key and "$" not in key  # truthy: OpenRLHF's W&B logger starts; nothing for a shell to expand


def _check_golden(name: str, text: str) -> None:
    golden = GOLDEN / name
    if os.environ.get("SAERL_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()


def test_the_miniature_command_matches_the_golden_file():
    cfg = load_experiment()
    argv = render_command(cfg.rl, cfg.curriculum.batch_size, PATHS, "miniature", "qwen2-s-saerl-s0")
    _check_golden("openrlhf_miniature.sh", shlex.join(argv) + "\n")


def test_the_paper_sweeps_commands_match_the_golden_file():
    """One line per run of sweeps/paper-main.yaml (GRPO and DAPO, 128 x 8, Qwen2.5-Math-1.5B)."""
    lines = []
    for g in sweep_graphs(read_sweep(ROOT / "sweeps" / "paper-main.yaml", [])):
        name = g.run.params["name"].rsplit("-", 1)[0]  # without the identity hash, which any new key moves
        lines.append(
            shlex.join(render_command(g.cfg.rl, g.cfg.curriculum.batch_size, PATHS, g.cfg.name, name))
        )
    assert len(lines) == 12
    _check_golden("openrlhf_paper_main.sh", "\n".join(lines) + "\n")


def test_a_kl_penalty_places_the_reference_model_where_the_actor_is(parser):
    """OpenRLHF asserts the reference's placement equals the actor's when they are colocated; its
    defaults (1 node x 8 GPUs) match no other placement, so the flags are rendered."""
    overrides = ["rl.kl_coef=0.001", "rl.openrlhf.num_nodes=2", "rl.openrlhf.gpus_per_node=4"]
    overrides += ["rl.openrlhf.vllm_engines=8"]
    rl = load_experiment(overrides=overrides).rl
    check_command(rl, 32)
    args = parse(parser, render_command(rl, 32, PATHS))
    assert args["train.colocate_all"] and args["algo.kl.init_coef"] > 0
    assert (args["ref.num_nodes"], args["ref.num_gpus_per_node"]) == (2, 4)
    assert (args["actor.num_nodes"], args["actor.num_gpus_per_node"]) == (2, 4)


def test_extra_args_reach_the_parser_which_rejects_unknown_flags(parser):
    rl = load_experiment(overrides=['rl.openrlhf.extra_args=["--vllm.enforce_eager"]']).rl
    assert parse(parser, render_command(rl, 32, PATHS))["vllm.enforce_eager"]
    bad = load_experiment(overrides=['rl.openrlhf.extra_args=["--use_wandb"]']).rl
    with pytest.raises(AssertionError, match="rejected"):
        parse(parser, render_command(bad, 32, PATHS))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["rl.openrlhf.micro_train_batch_size=3"], r"--train\.batch_size 256 \(B x n\) must be a multiple"),
        (["rl.openrlhf.vllm_engines=4"], r"--train\.colocate_all: --vllm\.num_engines 4 x"),
        (
            ["rl.openrlhf.micro_rollout_batch_size=64", "rl.openrlhf.num_nodes=2"],
            r"must be >= the 16 actor GPUs",
        ),
        (
            ["rl.steps=5", "rl.save_every=20"],
            r"--ckpt\.save_steps / --eval\.steps larger than the run's 5 steps",
        ),
        # Unequal micro-batch shares per rank hang DeepSpeed's collectives (256 samples on 8 GPUs).
        (
            ["rl.openrlhf.micro_rollout_batch_size=6"],
            r"size=6: the 256 samples .* 43 micro-batches .* 6, 1\b",
        ),
        (["rl.openrlhf.micro_rollout_batch_size=24"], r"size=24: .* as 2, 2, 2, 2, 2, 1, 0, 0: .* \(= 192\)"),
        # The actor takes the whole job: separate vLLM GPUs can never be placed.
        (["rl.openrlhf.colocate_all=false"], r"colocate_all=false: .*\(16 in all\), but the job has 8"),
        # The prompt file is the curriculum, exactly steps x B prompts: refills run out.
        (
            ["rl.openrlhf.dynamic_filtering=true"],
            r"dynamic_filtering: .* exactly rl\.steps x B = 1920 prompts",
        ),
    ],
)
def test_cross_flag_errors_fail_before_submission_naming_the_flags(overrides, message):
    with pytest.raises(CommandError, match=message):
        check_command(load_experiment(overrides=overrides).rl, 32)


def test_the_cluster_environment_follows_openrlhfs_own_pins(parser):
    import zipfile

    wheel = _wheel()
    assert wheel is not None
    with zipfile.ZipFile(wheel) as zf:
        meta = zf.read(next(n for n in zf.namelist() if n.endswith("dist-info/METADATA"))).decode()
    pins = {}
    for line in meta.splitlines():
        if line.startswith("Requires-Dist:") and "==" in line:
            name, _, rest = line.removeprefix("Requires-Dist:").strip().partition("==")
            pins[name.split("[")[0].strip()] = rest.split(";")[0].strip()
    ours = {}
    for line in (ROOT / "slurm" / "openrlhf-requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            ours[name.split("[")[0].strip()] = version.strip()
    assert ours.pop("openrlhf") == "0.11.2"
    assert ours == {k: pins[k] for k in ours} and set(ours) >= {
        "ray",
        "vllm",
        "transformers",
        "deepspeed",
        "flash-attn",
    }


def _call_like_openrlhf(queries, prompts, labels):
    """OpenRLHF calls reward_func once per sample, in a worker thread of its vLLM engine actor."""
    from concurrent.futures import ThreadPoolExecutor

    from saerl.rl.openrlhf.reward import reward_func

    with ThreadPoolExecutor(2) as pool:
        outs = list(
            pool.map(
                lambda qpl: reward_func([qpl[0]], [qpl[1]], [qpl[2]]),
                zip(queries, prompts, labels, strict=True),
            )
        )
    return [float(o["rewards"][0]) for o in outs], outs


def test_the_reward_file_scores_correct_wrong_and_malformed_completions_from_a_thread(tmp_path, monkeypatch):
    from saerl.rl.openrlhf.reward import label_for

    monkeypatch.setenv("SAERL_ORDER_LOG", str(tmp_path / "order"))
    prompt = "<|im_start|>user\nCompute 40+45.<|im_end|>\n<|im_start|>assistant\n"
    cases = [
        (prompt + "40+45=85 #### 85<|im_end|>", prompt, label_for("a", "85", "int"), 1.0),
        (prompt + "#### 84<|im_end|>", prompt, label_for("b", "85", "int"), 0.0),
        (prompt + "no marker at all", prompt, label_for("c", "85", "int"), 0.0),
        (prompt + "so \\boxed{\\frac{1}{2}}<|im_end|>", prompt, label_for("d", "0.5", "math"), 1.0),
        (prompt + "\\boxed{\\frac{1}{3}}", prompt, label_for("e", "0.5", "math"), 0.0),
        (prompt + "#### 85", prompt, "not json", 0.0),
        (None, prompt, label_for("g", "85", "int"), 0.0),
        (prompt + "#### 85", prompt, json.dumps({"id": "h"}), 0.0),  # no answer in the label
    ]
    rewards, outs = _call_like_openrlhf(*zip(*[c[:3] for c in cases], strict=True))
    assert rewards == [c[3] for c in cases]
    assert set(outs[0]) == {"rewards", "scores", "extra_logs"}
    (log,) = tmp_path.glob("order.*")
    seen = sorted(i for line in log.read_text().splitlines() for i in json.loads(line)["ids"])
    assert seen == sorted(["a", "b", "c", "d", "e", "", "g", ""])


def test_the_reward_grades_the_response_up_to_its_first_turn_end():
    """A completion that ran past the turn end (a stop missed) is graded on the model's turn only."""
    from saerl.rl.openrlhf.reward import label_for

    prompt = "<|im_start|>user\nCompute 40+45.<|im_end|>\n<|im_start|>assistant\n"
    invented = "#### 84<|im_end|>\n<|im_start|>user\nNo, it is 85.<|im_end|>\n#### 85"
    cases = [
        (prompt + invented, prompt, label_for("a", "85", "int"), 0.0),
        (prompt + "#### 85<|endoftext|> #### 7", prompt, label_for("b", "85", "int"), 1.0),
        (prompt + "#### 85<|eot_id|>", prompt, label_for("c", "85", "int"), 1.0),  # Llama 3's turn end
    ]
    rewards, _ = _call_like_openrlhf(*zip(*[c[:3] for c in cases], strict=True))
    assert rewards == [c[3] for c in cases]


def test_a_pathological_answer_cannot_block_the_reward_it_times_out_scores_0_and_is_counted(monkeypatch):
    """``\\boxed{9^{9^{9^{9}}}}``: math-verify never returns on it off the main thread (its own
    limit needs SIGALRM). Graded in OpenRLHF's way (worker threads), it costs the time limit."""
    import threading

    from saerl.data import grading_pool
    from saerl.rl.openrlhf.reward import label_for

    monkeypatch.setenv("SAERL_GRADE_TIMEOUT_S", "3")
    monkeypatch.setattr(grading_pool, "_POOL", None)  # a pool with this limit
    prompt = "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n"
    queries = [prompt + "\\boxed{9^{9^{9^{9}}}}<|im_end|>", prompt + "\\boxed{\\frac{1}{2}}<|im_end|>"]
    labels = [label_for("p", "1", "math"), label_for("q", "0.5", "math")]
    result: list = []
    caller = threading.Thread(
        target=lambda: result.append(_call_like_openrlhf(queries, [prompt, prompt], labels)), daemon=True
    )
    caller.start()
    caller.join(60)
    assert result, "grading blocked the reward function"
    rewards, outs = result[0]
    assert rewards == [0.0, 1.0]
    assert [float(o["extra_logs"]["grade_timeout"][0]) for o in outs] == [1.0, 0.0]
    again, _ = _call_like_openrlhf(queries[1:], [prompt], labels[1:])  # a fresh worker took over
    assert again == [1.0]
    grading_pool.pool().close()


def test_a_slow_worker_start_is_not_counted_against_an_items_time_limit(monkeypatch, tmp_path):
    """A grading worker replaced on a loaded node may take seconds to import its graders; the item
    it then grades still gets its whole limit (before: the start-up counted, and a plain 1/2 timed
    out under load)."""
    import os
    import threading

    from saerl.data import grading_pool

    (tmp_path / "sitecustomize.py").write_text("import time\ntime.sleep(3)\n")  # every worker starts 3 s late
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("SAERL_GRADE_TIMEOUT_S", "1")
    monkeypatch.setattr(grading_pool, "_POOL", None)
    verdicts: list = []
    caller = threading.Thread(
        target=lambda: verdicts.append(grading_pool.grade_limited("math", "\\boxed{\\frac{1}{2}}", "0.5"))
    )
    caller.start()
    caller.join(120)
    grading_pool.pool().close()
    assert verdicts == [grading_pool.Verdict(True, timed_out=False)]


def test_the_curriculum_exports_in_order_with_ids_in_the_labels(tmp_path):
    import pyarrow as pa

    from saerl.rl.openrlhf.reward import export_prompts

    table = pa.table({"id": ["x2", "x1"], "prompt": ["p2", "p1"], "answer": ["2", "1"]})
    assert export_prompts(table, tmp_path / "p.jsonl", "int") == 2
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [r["prompt"] for r in rows] == ["p2", "p1"]
    assert [json.loads(r["label"])["id"] for r in rows] == ["x2", "x1"]


def _source(wheel: Path, rel: str) -> str:
    import zipfile

    with zipfile.ZipFile(wheel) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith("/" + rel)]
        return zf.read(name).decode()


def _exec_module(source: str, name: str, **namespace):
    namespace["__name__"] = name
    exec(compile(source, name, "exec"), namespace)
    return namespace


def _exec_function(source: str, name: str, cls: str | None = None, **namespace):
    """One function (or one method of class ``cls``) of an OpenRLHF module, executed alone."""
    import ast

    tree = ast.parse(source)
    body = (
        next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls).body if cls else tree.body
    )
    fn = next(n for n in body if isinstance(n, ast.FunctionDef) and n.name == name)
    exec(compile(ast.Module(body=[fn], type_ignores=[]), name, "exec"), namespace)
    return namespace[name]


def openrlhf_prompt_loader(wheel: Path, prompts: Path, patch: bool):
    """OpenRLHF 0.11.2's own data path for the trainer's prompts, on CPU: ``prepare_datasets``
    (ppo_trainer.py), ``blending_datasets``, ``PromptDataset``, ``DistributedSampler`` and
    ``DeepspeedStrategy.setup_dataloader`` from the wheel's source. Only ``StatefulDataLoader``
    (torchdata, not installed here) is torch's DataLoader, whose arguments it shares."""
    from types import SimpleNamespace as NS

    import torch
    import torch.distributed as dist

    from saerl.rl.openrlhf.order import sequential_prompts

    prompt_mod = _exec_module(_source(wheel, "openrlhf/datasets/prompts_dataset.py"), "prompts_dataset")
    utils_mod = _exec_module(_source(wheel, "openrlhf/datasets/utils.py"), "datasets_utils")
    sampler_mod = _exec_module(_source(wheel, "openrlhf/utils/distributed_sampler.py"), "distributed_sampler")
    setup_dataloader = _exec_function(
        _source(wheel, "openrlhf/utils/deepspeed/deepspeed.py"),
        "setup_dataloader",
        cls="DeepspeedStrategy",
        dist=dist,
        DistributedSampler=sampler_mod["DistributedSampler"],
        StatefulDataLoader=torch.utils.data.DataLoader,
    )
    prepare = _exec_function(
        _source(wheel, "openrlhf/trainer/ppo_trainer.py"),
        "prepare_datasets",
        blending_datasets=utils_mod["blending_datasets"],
        PromptDataset=prompt_mod["PromptDataset"],
    )
    args = NS(
        data=NS(
            prompt_dataset=str(prompts), prompt_probs=None, max_samples=10**8, prompt_split="train",
            input_template=None, input_key="prompt", label_key="label", apply_chat_template=False,
            dataloader_num_workers=0, image_key="images",
        ),
        train=NS(seed=42, batch_size=8, num_episodes=1, max_epochs=1),
        rollout=NS(n_samples_per_prompt=2),
        eval=NS(dataset=None),
    )  # fmt: skip
    strategy_cls = type(
        "DeepspeedStrategy",
        (),
        {
            "setup_dataloader": setup_dataloader,
            "print": lambda self, *a: None,
            "is_rank_0": lambda self: True,
        },
    )
    if patch:
        sequential_prompts(strategy_cls, prompt_mod["PromptDataset"])
    strategy = strategy_cls()
    strategy.args, strategy.seed = args, 42
    loader, _, _ = prepare(strategy, tokenizer=None)
    return loader


def test_the_order_hook_makes_openrlhfs_own_prompt_dataloader_follow_the_curriculum(wheel, tmp_path):
    import pyarrow as pa
    import torch

    from saerl.rl.openrlhf.reward import export_prompts

    ids = [f"q{i:03d}" for i in range(64)]
    table = pa.table({"id": ids, "prompt": [f"prompt {i}" for i in ids], "answer": ["1"] * 64})
    export_prompts(table, tmp_path / "prompts.jsonl", "int")

    def order(patch: bool) -> list[str]:
        torch.manual_seed(0)
        loader = openrlhf_prompt_loader(wheel, tmp_path / "prompts.jsonl", patch)
        return [json.loads(labels[0])["id"] for _, _, labels, _ in loader]

    assert sorted(order(False)) == ids and order(False) != ids  # OpenRLHF as shipped: shuffled
    assert order(True) == ids  # with saerl's hook: the curriculum's order


def test_the_order_hook_refuses_an_openrlhf_it_was_not_written_for():
    from saerl.rl.openrlhf.order import OrderHookError, install, sequential_prompts

    class Changed:
        def setup_dataloader(self, dataset, batch_size):  # no shuffle argument any more
            return dataset

    with pytest.raises(OrderHookError, match="changed its dataloader API"):
        sequential_prompts(Changed, list)
    with pytest.raises(OrderHookError, match="needs OpenRLHF in the Ray workers"):
        install()  # OpenRLHF is not installed in saerl's environment


def test_the_order_audit_finds_kept_and_broken_orders(tmp_path, monkeypatch):
    import pyarrow as pa

    from saerl.rl.openrlhf.order import audit
    from saerl.rl.openrlhf.reward import export_prompts, label_for

    ids = [f"q{i}" for i in range(8)]
    export_prompts(pa.table({"id": ids, "prompt": ids, "answer": ["1"] * 8}), tmp_path / "p.jsonl", "int")
    for name, seen in {"kept": ["q1", "q0", "q3", "q2", "q5", "q4", "q7", "q6"], "broken": ids[::-1]}.items():
        monkeypatch.setenv("SAERL_ORDER_LOG", str(tmp_path / name))
        # two samples per prompt, each batch scored by two threads of one process, eval in between
        labels = [label_for(i, "1", "int") for i in seen for _ in range(2)]
        _call_like_openrlhf(["#### 1"] * 8, [""] * 8, labels[:8])
        _call_like_openrlhf(["#### 1"], [""], [label_for("eval:val:e1", "1", "int")])
        _call_like_openrlhf(["#### 1"] * 8, [""] * 8, labels[8:])
    kept = audit(tmp_path / "kept", tmp_path / "p.jsonl", prompts_per_step=2)
    assert kept == {
        "curriculum_prompts": 8,
        "scored_prompts": 8,
        "unknown_ids": 0,
        "off_step": 0,
        "in_order": True,
    }
    broken = audit(tmp_path / "broken", tmp_path / "p.jsonl", prompts_per_step=2)
    assert broken["off_step"] == 8 and not broken["in_order"]


def test_openrlhfs_own_eval_metrics_map_onto_the_reports_eval_sets(wheel, tmp_path):
    """The eval file saerl exports, scored by OpenRLHF's compute_eval_metrics and named by its
    WandbLogger.log_eval (both from the wheel), lands on saerl's eval/<set>/accuracy."""
    from types import SimpleNamespace as NS

    import torch

    from analysis.tidy import canonical_metric
    from saerl.data.records import Record
    from saerl.rl.openrlhf.reward import export_evals, score_one

    evals = {
        "eval_id": [Record("a", "1+1", "2"), Record("b", "2+2", "4")],
        "eval_ood": [Record("c", "3+3", "6")],
    }
    assert export_evals(evals, tmp_path / "evals.jsonl", "int") == 3
    rows = [json.loads(line) for line in (tmp_path / "evals.jsonl").read_text().splitlines()]
    loader = [([r["datasource"]], [r["prompt"]], [r["label"]], [None]) for r in rows]
    answers = {"1+1": "#### 2", "2+2": "#### 5", "3+3": "#### 6"}  # b is wrong
    samples = [
        NS(
            prompts=[r["prompt"]],
            rewards=score_one(r["prompt"] + answers[r["prompt"]], r["prompt"], r["label"])[0],
            response_length=torch.tensor(4),
            truncated=torch.tensor(0),
        )
        for r in rows
    ]
    compute = _exec_function(
        _source(wheel, "openrlhf/trainer/ppo_trainer.py"), "compute_eval_metrics", torch=torch
    )
    logs = compute(loader, samples, 1)
    logged = {}
    log_eval = _exec_function(
        _source(wheel, "openrlhf/utils/logging_utils.py"),
        "log_eval",
        cls="WandbLogger",
        Dict=dict,
        Any=object,
    )
    log_eval(NS(handle=NS(log=logged.update)), 10, logs)
    assert logged["eval/global_step"] == 10
    mapped = {canonical_metric(k): v for k, v in logged.items()}
    assert mapped["eval/eval_id/accuracy"] == 0.5 and mapped["eval/eval_ood/accuracy"] == 1.0


def test_a_dry_run_of_the_paper_sweep_writes_sbatch_scripts_and_openrlhf_commands(parser, tmp_path):
    """`make sweep SWEEP=sweeps/paper-main.yaml CLUSTER=h100 DRY_RUN=1` (store and runs redirected):
    every run gets a multi-node sbatch request and an OpenRLHF command script whose arguments
    OpenRLHF's own parser accepts; nothing is submitted and no key is written."""
    import subprocess

    out = subprocess.run(
        [str(ROOT / ".venv/bin/saerl"), "sweep", "sweeps/paper-main.yaml", "CLUSTER=h100", "DRY_RUN=1",
         f"store_dir={tmp_path / 'store'}", f"runs_dir={tmp_path / 'runs'}"],
        cwd=ROOT, capture_output=True, text=True, check=False,
        env={**os.environ, "WANDB_API_KEY": "secret-key-never-written"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "would submit 22 job(s)" in out.stdout  # 10 stage jobs (benchmarks, one eval0), 12 runs
    dry = tmp_path / "runs" / "paper-main" / "slurm-logs" / "dry-run"
    scripts = sorted(dry.glob("*.openrlhf.sh"))
    assert len(scripts) == 12  # 2 algorithms x 2 methods x 3 seeds
    assert len(list(dry.glob("*eval0*.sbatch"))) == 1  # one step-0 evaluation per target
    for script in scripts:
        text = script.read_text()
        assert "secret-key-never-written" not in text
        argv = shlex.split(text.split(" -- \\\n", 1)[1].replace("\\\n", " "))
        args = parse(parser, argv)
        assert args["rollout.batch_size"] == 128 and args["rollout.n_samples_per_prompt"] == 8
        assert args["ckpt.output_dir"].startswith(str(tmp_path / "runs" / "paper-main"))
        assert "--setup-hook saerl.rl.openrlhf.order.install" in text
        assert "$HOME/openrlhf-env" not in text and "/openrlhf-env/bin/python" in text
        # Actor and vLLM load the run's model folder, whose generation config stops at the turn end.
        assert args["actor.model_name_or_path"] == str(
            Path(args["ckpt.path"]).parent / "openrlhf/actor-model"
        )
        assert "Qwen/Qwen2.5-Math-1.5B, generation config that stops at the chat turn end" in text
        assert args["logger.wandb.key"] == "from-env:WANDB_API_KEY"
        assert args["ckpt.max_num"] == 2 and args["ckpt.best_metric_key"] == "none"
        assert "export SAERL_GRADE_TIMEOUT_S=10" in text and "export WANDB_MODE=online" in text
    runs = [p for p in dry.glob("*-runs-*.sbatch")]
    assert runs and all(
        "#SBATCH --nodes=1" in p.read_text() and "#SBATCH --gpus-per-node=8" in p.read_text() for p in runs
    )
    assert not list((tmp_path / "store").glob("submissions.jsonl"))


def test_the_smoke_sweep_plans_and_renders_with_its_vllm_stages_in_the_openrlhf_environment(parser, tmp_path):
    """`make sweep SWEEP=sweeps/smoke-gpu.yaml CLUSTER=h100 DRY_RUN=1`: two 8-step OpenRLHF runs
    (checkpoints and evals at 4 and 8), and the stages that generate with vLLM (labels, eval0) run
    by the OpenRLHF environment's python, which has vLLM; every other stage by saerl's."""
    import subprocess

    out = subprocess.run(
        [str(ROOT / ".venv/bin/saerl"), "sweep", "sweeps/smoke-gpu.yaml", "CLUSTER=h100", "DRY_RUN=1",
         f"store_dir={tmp_path / 'store'}", f"runs_dir={tmp_path / 'runs'}"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    dry = tmp_path / "runs" / "smoke-gpu" / "slurm-logs" / "dry-run"
    scripts = sorted(dry.glob("*.openrlhf.sh"))
    assert [p.name.split("-s0-")[0] for p in scripts] == ["Qwen2.5-0.5B-saerl", "Qwen2.5-0.5B-vanilla"]
    for script in scripts:
        args = parse(parser, shlex.split(script.read_text().split(" -- \\\n", 1)[1].replace("\\\n", " ")))
        assert (args["rollout.batch_size"], args["ckpt.save_steps"], args["eval.steps"]) == (32, 4, 4)
        assert args["actor.model_name_or_path"].endswith("/openrlhf/actor-model")
    env_python = str(Path.home() / "openrlhf-env" / "bin" / "python")
    for sbatch in dry.glob("*.sbatch"):
        in_env = f"{env_python} -u -m submitit.core._submit" in sbatch.read_text()
        assert in_env == any(k in sbatch.name for k in ("labels", "eval0")), sbatch.name


def test_saerl_plan_states_stop_rules_checkpoint_disk_and_refuses_what_would_hang(tmp_path):
    """`saerl plan <sweep> CLUSTER=h100`: GPU-hours, checkpoint disk per target and in all, where
    each target's generation stops; and a run OpenRLHF would hang on is refused, naming the key."""
    import subprocess

    saerl = str(ROOT / ".venv/bin/saerl")
    where = [f"store_dir={tmp_path / 'store'}", f"runs_dir={tmp_path / 'runs'}"]
    out = subprocess.run(
        [saerl, "plan", "sweeps/paper-main.yaml", "CLUSTER=h100", *where],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "GPU-hours (estimate): 1447.50" in out.stdout
    # 1.5e9 parameters x (2 checkpoints x 14 bytes + 2 bytes of final bf16 weights) = 45 GB, x 12 runs
    assert "Qwen/Qwen2.5-Math-1.5B (1.50B parameters, from its name): 45 GB per run" in out.stdout
    assert "all runs: 0.54 TB" in out.stdout
    assert "Qwen/Qwen2.5-Math-1.5B" in out.stdout.split("where generation stops")[1]
    bad = subprocess.run(
        [saerl, "plan", "sweeps/paper-main.yaml", "rl.openrlhf.micro_rollout_batch_size=48", *where],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "rl.openrlhf.micro_rollout_batch_size=48" in bad.stderr and "3, 3, 3, 3, 3, 3, 3, 1" in bad.stderr
    assert "fix it before submitting" in bad.stderr


def test_the_plan_reads_a_local_targets_stop_rule_and_size(tiny, tmp_path):
    """A base-model folder (EOS <|endoftext|>): the plan names both stops and counts its weights."""
    from test_openrlhf_model import make_base_model

    from saerl.config import load_experiment
    from saerl.launch.graph import Plan, StageGraph
    from saerl.launch.plan import describe
    from saerl.launch.profiles import load_profile

    folder, _ = make_base_model(tiny, tmp_path)
    overrides = ["rl.backend=openrlhf", f"rl.target_model={folder}", "rl.eval_every=10", "rl.save_every=20"]
    cfg = load_experiment(overrides=[*overrides, f"store_dir={tmp_path / 'store'}"])
    text = describe(Plan.of([StageGraph(cfg).run]), tmp_path / "store", "t", load_profile("h100"))
    assert "stops at <|endoftext|>, <|im_end|> (<|im_end|> added to the model's own <|endoftext|>)" in text
    assert "parameters, from its weights)" in text


def test_the_driver_forwards_the_jobs_environment_but_never_the_wandb_key(tmp_path):
    from saerl.rl.openrlhf.driver import forwarded_env, parse, wandb_can_log, without_wandb

    env = {"WANDB_PROJECT": "p", "WANDB_SERVICE": "3-1-unix-/tmp/s", "HF_HOME": "/hf", "PATH": "/bin"}
    fwd = forwarded_env({**env, "TRITON_CACHE_DIR": "/t", "SAERL_ORDER_LOG": "/o", "WANDB_API_KEY": "k"})
    assert fwd["WANDB_PROJECT"] == "p" and fwd["HF_HOME"] == "/hf" and fwd["SAERL_ORDER_LOG"] == "/o"
    assert "WANDB_SERVICE" not in fwd and "PATH" not in fwd and fwd["TRITON_CACHE_DIR"] == "/t"
    assert "WANDB_API_KEY" not in fwd  # Ray writes runtime envs into its logs
    assert fwd["NCCL_DEBUG"] == "WARN"  # OpenRLHF's own defaults, which its skipped ray.init would set
    argv = ["--a", "1", "--logger.wandb.key", "from-env", "--logger.wandb.project", "p", "--b"]
    assert without_wandb(argv) == ["--a", "1", "--b"]
    nothing = tmp_path / "no-netrc"
    assert wandb_can_log({"WANDB_MODE": "online", "WANDB_API_KEY": "k"}, nothing)[0]
    assert wandb_can_log({"WANDB_MODE": "offline"}, nothing)[0]  # offline files need no key
    can, why = wandb_can_log({"WANDB_MODE": "online"}, nothing)
    assert not can and "WANDB_API_KEY" in why  # instead of a login prompt on a compute node
    netrc = tmp_path / "netrc"
    netrc.write_text("machine api.wandb.ai\n  login user\n  password k\n")
    netrc.chmod(0o600)
    assert wandb_can_log({"WANDB_MODE": "online"}, netrc)[0]  # `wandb login` on the cluster
    ns, rest = parse(["--nodes", "2", "--", "--x", "1"])
    assert ns.nodes == 2 and ns.entry == "openrlhf.cli.train_ppo_ray" and rest == ["--x", "1"]


def test_the_order_audit_skips_a_torn_last_line_and_names_any_other_bad_line(tmp_path):
    from saerl.rl.openrlhf.order import read_order_logs

    good = json.dumps({"time": 1.0, "ids": ["a", "b"]}) + "\n"
    (tmp_path / "log.1").write_text(good + '{"time": 2.0, "ids": ["c"')  # killed mid-append
    assert read_order_logs(tmp_path / "log") == ["a", "b"]
    (tmp_path / "log.2").write_text("not json\n" + good)
    with pytest.raises(ValueError, match=r"log\.2:1: not an order log line"):
        read_order_logs(tmp_path / "log")


def test_make_sweep_refuses_an_openrlhf_sweep_with_a_bad_command_before_submitting_anything(tmp_path):
    import subprocess

    out = subprocess.run(
        [str(ROOT / ".venv/bin/saerl"), "sweep", "sweeps/paper-main.yaml", "CLUSTER=h100", "DRY_RUN=1",
         "rl.openrlhf.vllm_engines=4", f"store_dir={tmp_path / 'store'}", f"runs_dir={tmp_path / 'runs'}"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "--train.colocate_all: --vllm.num_engines 4 x --vllm.tensor_parallel_size 1" in out.stderr
    assert "nothing was submitted" in out.stderr
    assert not (tmp_path / "runs" / "paper-main" / "slurm-logs" / "dry-run").exists()


def test_make_sweep_passes_overrides_through_to_every_point(tmp_path):
    import subprocess

    where = f"store_dir={tmp_path / 'store'} runs_dir={tmp_path / 'runs'}"
    out = subprocess.run(
        ["make", "-s", "sweep", "SWEEP=sweeps/paper-main.yaml", "CLUSTER=h100", "DRY_RUN=1",
         f"ARGS=rl.steps=50 {where}"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    scripts = list((tmp_path / "runs" / "paper-main" / "slurm-logs" / "dry-run").glob("*.openrlhf.sh"))
    assert len(scripts) == 12 and all("--actor.lr_warmup_ratio 0.2 " in p.read_text() for p in scripts)
