"""Config of the RL stage: the target model, the algorithm, evaluation, tracking."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from saerl.configlib import check_range


@dataclass(frozen=True)
class OpenRLHFConfig:
    """Placement and engine settings of the OpenRLHF 0.11.2 backend (multi-node GPU runs on Slurm).
    Algorithm, batch, lr, lengths, eval and checkpoints come from the rl section itself."""

    num_nodes: int = 1
    """Nodes of one run (the actor's; with colocate_all, vLLM and the reference share them)."""
    gpus_per_node: int = 8
    """GPUs per node used by the actor."""
    vllm_engines: int = 8
    """vLLM rollout engines; with colocate_all, engines x tensor parallel = the actor's GPUs."""
    vllm_tensor_parallel: int = 1
    """Tensor parallelism of each vLLM engine."""
    vllm_gpu_memory_utilization: float = 0.5
    """Share of each GPU's memory vLLM may take (colocated with DeepSpeed: about half)."""
    colocate_all: bool = True
    """Actor, reference and vLLM on the same GPUs, taking turns (DeepSpeed and vLLM sleep)."""
    zero_stage: int = 2
    """DeepSpeed ZeRO stage."""
    gradient_checkpointing: bool = True
    """Recompute activations in the backward pass (memory for time)."""
    micro_train_batch_size: int = 4
    """Samples per GPU per forward/backward in training."""
    micro_rollout_batch_size: int = 8
    """Samples per GPU per forward when computing log-probs of the rollouts."""
    prompt_max_len: int = 1024
    """Longest prompt in tokens (data.max_len = this + rl.max_completion_length)."""
    keep_checkpoints: int = 2
    """Regular checkpoints kept (--ckpt.max_num). OpenRLHF evicts before each save, first those
    without a metric, then the worst by metric, then the oldest; with ``best_checkpoint_metric``
    off no checkpoint has a metric, so the oldest goes and these are the newest ones. A requeued
    run resumes from the newest (DeepSpeed's ``latest``). OUR CHOICE: 2, the newest plus the one
    before it, so a job killed while saving still has a whole checkpoint; each is a full ZeRO
    checkpoint with optimizer states (about 14 bytes per parameter: ~22 GB at 1.5B, ~100 GB at 7B)."""
    best_checkpoint_metric: str = ""
    """OpenRLHF's extra 'best' checkpoint (--ckpt.best_metric_key): '' keeps none (OUR CHOICE: the
    runs are compared on their logged evaluations and final model, and each best copy is one more
    full checkpoint); or an eval metric, e.g. eval_math500_pass1, whose best step is kept on top
    of the ``keep_checkpoints`` newest. (OpenRLHF's own default picks the first *_pass1 metric in
    alphabetical order, e.g. the 30 problems of AIME 2024, and stamps regular checkpoints with the
    value of the evaluation before theirs.)"""
    dynamic_filtering: bool = False
    """DAPO's dynamic sampling. Off: it refills all-correct / all-wrong groups with later prompts,
    so steps no longer coincide with curriculum batches."""
    extra_args: tuple[str, ...] = ()
    """Any further OpenRLHF flags, appended as given (checked by its parser in the tests)."""
    entry: str = "openrlhf.cli.train_ppo_ray"
    """The module the driver runs as __main__ (a fork of OpenRLHF with the same command line)."""
    setup_hook: str = "saerl.rl.openrlhf.order.install"
    """Ray worker_process_setup_hook: saerl's makes OpenRLHF's prompt dataloader keep the curriculum's
    order ('' leaves OpenRLHF shuffling it)."""

    def __post_init__(self) -> None:
        check_range(self, "num_nodes gpus_per_node vllm_engines vllm_tensor_parallel", low=1)
        check_range(
            self, "micro_train_batch_size micro_rollout_batch_size prompt_max_len keep_checkpoints", low=1
        )
        check_range(self, "zero_stage", low=0, high=3)
        if self.best_checkpoint_metric and not self.best_checkpoint_metric.startswith("eval_"):
            raise ValueError(
                f"best_checkpoint_metric: {self.best_checkpoint_metric!r} is not an OpenRLHF eval metric "
                "(eval_<set>_pass1, e.g. eval_math500_pass1); '' keeps no best checkpoint"
            )
        check_range(self, "vllm_gpu_memory_utilization", low=0, high=1, low_open=True)


@dataclass(frozen=True)
class RLConfig:
    """GRPO/DAPO on the target model T, consuming the curriculum in its order."""

    target_model: str = "qwen2-s"
    """A name from models.family, a local HF folder, or a hub id."""
    backend: Literal["trl", "openrlhf"] = "trl"
    """'trl' (local: CPU or one GPU, runs here); 'openrlhf' (multi-node GPUs, submitted to Slurm by
    `make sweep`: Ray inside the job, OpenRLHF 0.11.2 in its own environment; saerl.rl.openrlhf.run)."""
    openrlhf: OpenRLHFConfig = field(default_factory=OpenRLHFConfig)
    """Placement and engines of the OpenRLHF backend."""
    algorithm: Literal["grpo", "grpo_token_mean", "dapo", "sft"] = "grpo_token_mean"
    """'grpo': GRPO's per-sequence loss (each completion weighs the same). 'grpo_token_mean': GRPO
    with DAPO's token-level loss aggregation and GRPO's symmetric clip (0.2). 'dapo': DAPO as far as
    it keeps the curriculum's order: the token-level loss, clip-higher (0.2 / 0.28) and several
    policy updates per rollout batch, which it needs (updates_per_batch > 1: with one update the
    importance ratio is 1, the clip never acts and the run would be 'grpo_token_mean' under another
    name, so that is refused); overlong shaping with overlong_buffer > 0. DAPO's dynamic sampling is
    not offered: refilling all-correct / all-wrong groups with later prompts moves batches off the
    curriculum (the report shows the share of such groups per run instead).
    OUR CHOICE: 'grpo_token_mean', the first setting that gained on the miniature (analysis/LOG.md;
    it was measured under the name 'dapo' with one update per batch, the same training); with
    GRPO's per-sequence loss (8 prompts per step) accuracy fell at every lr that moved the model.
    'sft' is the same-compute SFT baseline (saerl.rl.sft_baseline): supervised fine-tuning on the
    curriculum's prompts and reference solutions for `sft_seconds`, no RL (trl backend only)."""
    sft_seconds: float = 0.0
    """algorithm='sft': wall-clock budget. OUR CHOICE: the wall time of the RL runs it is compared
    with (their metrics.jsonl `wall_time`), set in the sweep; required (> 0) for 'sft'."""
    sft_lr: float = 2e-4
    """algorithm='sft': constant learning rate (where the warm-start's schedule ended)."""
    updates_per_batch: int = 1
    """Optimizer updates on each generated batch (mu in GRPO/DAPO; TRL's num_iterations). With 1 the
    importance ratio is always 1, so clipping (and DAPO's clip-higher) never acts; > 1 reuses the
    batch's completions PPO-style. `steps` still counts curriculum batches (logged steps too).
    OUR CHOICE: 1, the setting the miniature's runs were measured with (analysis/LOG.md)."""
    overlong_buffer: int = 0
    """DAPO's soft overlong punishment: completions longer than max_completion_length minus this
    many tokens get a reward penalty rising linearly to -1 at the limit (TRL's
    get_soft_overlong_punishment); 0 turns it off (the measured setting)."""
    num_generations: int = 8
    """Group size G: completions per prompt."""
    completions_per_device: int = 0
    """TRL's per_device_train_batch_size, in completions; 0 derives B x G / gradient_accumulation_steps.
    Any other value must make one optimizer step consume exactly one curriculum batch."""
    gradient_accumulation_steps: int = 1
    """Micro-batches per optimizer step (for memory; does not change the prompts per step)."""
    lr: float = 2e-5
    """Learning rate. OUR CHOICE from probes on qwen2-s (58% greedy after SFT): at 8 prompts per
    step, 1e-4 fell to 37-45% under every variant tried and 3e-5 stayed flat; with DAPO and 32
    prompts per step, 1e-5 stayed flat and 2e-5 gained +3.7 (qwen2-s) and +3.2 (llama-s) points
    over 3 seeds in 60 steps (analysis/LOG.md, the miniature transfer study). Those probes read
    eval_id; on the untouched `val` split (sweeps/tune.yaml, qwen2-s, 40 steps, 2 seeds) 1e-5 and
    2e-5 tie (53.7 vs 53.2) and 4e-5 is worse (51.2)."""
    optim: str = "adamw_torch"
    """The optimizer, by transformers' name (adamw_torch, sgd, adafactor, ...)."""
    adam_epsilon: float = 1e-8
    """AdamW's epsilon."""
    adam_beta2: float = 0.999
    """AdamW's beta2."""
    warmup_steps: int = 0
    """Linear learning-rate warmup steps, then constant."""
    kl_coef: float = 0.0
    """KL coefficient beta (0: no reference model, as in DAPO and recent GRPO practice)."""
    max_completion_length: int = 96
    """New tokens per completion (the miniature's solutions need ~40-90)."""
    temperature: float = 1.0
    """Sampling temperature of the rollouts."""
    steps: int = 60
    """Optimizer steps; each consumes exactly one curriculum batch of B prompts."""
    eval_every: int = 10
    """Greedy evaluation every N steps (and at step 0 and at the end)."""
    eval_splits: tuple[str, ...] = ("eval_id", "eval_ood")
    """Data splits evaluated (the miniature's); real data has only `train`: set [] and name benchmarks."""
    instruction: str = ""
    """Appended (after a newline) to every prompt the models answer: RL rollouts, rollout labels and
    evaluation of the data's splits (benchmarks add their own \\boxed{} instruction); never to what
    the SAE reads. The real-model profile (configs/real.yaml) sets the \\boxed{} instruction."""
    eval_benchmarks: tuple[str, ...] = ()
    """Named benchmarks evaluated beside the splits (gsm8k, math500, aime24, aime25, amc23, minerva,
    olympiadbench: saerl/data/benchmarks.py), greedy, with the \\boxed{} answer instruction, graded
    per benchmark (units, multiple answers); logged as eval/<name>/accuracy."""
    benchmark_files: dict[str, str] = field(default_factory=dict)
    """Local copies in the published columns, benchmark name -> file or folder; a benchmark not
    named here is read from its hub id (needs a reachable hub)."""
    eval_items: int = 300
    """Items per eval split (300 keeps the noise near 2.6 points; docs/tools.md)."""
    eval_max_new_tokens: int = 96
    """Generation budget of the greedy evaluation."""
    eval_batch_size: int = 64
    """Prompts per generate call in evaluations (greedy and sampled)."""
    eval_backend: Literal["hf", "vllm"] = "hf"
    """Generation of the step-0 evaluation node (eval0, the OpenRLHF runs' step 0): HF generate, or
    vLLM where installed (the cluster's OpenRLHF environment; same prompts, stops and grading). The
    TRL runs evaluate with HF inside training; OpenRLHF evaluates with its own vLLM engines."""
    eval_avg_k: bool = True
    """At the final evaluation, benchmarks whose published metric is avg@k (AIME 2024/2025, AMC 2023:
    k = 16) are also sampled k times at ``eval_temperature``: eval/<name>/avg@k."""
    eval_temperature: float = 0.6
    """Sampling temperature of avg@k. OUR CHOICE: the value Qwen2.5-Math and DeepSeek-R1 report
    avg@k with."""
    grade_timeout_s: float = 10.0
    """Per-item time limit on grading where math-verify cannot bound itself (off the main thread:
    OpenRLHF's reward function, saerl.data.grading_pool); an item past it scores 0 and is counted
    (grade_timeout in the logs). OUR CHOICE: twice math-verify's own 5 s per call."""
    save_every: int = 20
    """Checkpoint every N steps (resume continues the same data order)."""
    seed: int = 0
    """Sampling and initialisation seed of the run."""
    wandb: Literal["offline", "online", "disabled"] = "offline"
    """W&B mode; the key, if any, comes from the environment only."""
    wandb_project: str = "saerl"
    """W&B project."""

    def __post_init__(self) -> None:
        if self.num_generations < 2:
            raise ValueError("num_generations: GRPO needs at least 2 completions per prompt")
        check_range(self, "steps eval_every save_every gradient_accumulation_steps", low=1)
        check_range(self, "max_completion_length eval_items eval_max_new_tokens eval_batch_size", low=1)
        check_range(self, "eval_temperature", low=0, low_open=True)
        check_range(self, "completions_per_device warmup_steps kl_coef", low=0)
        check_range(self, "lr adam_epsilon temperature grade_timeout_s", low=0, low_open=True)
        check_range(self, "adam_beta2", low=0, high=1, low_open=True, high_open=True)
        check_range(self, "updates_per_batch", low=1)
        if self.algorithm == "dapo" and self.updates_per_batch == 1:
            raise ValueError(
                "algorithm: 'dapo' needs updates_per_batch > 1 (with one policy update per rollout "
                "batch the importance ratio is 1 and DAPO's clip-higher never acts); set "
                "rl.updates_per_batch=2, or rl.algorithm=grpo_token_mean for the token-level loss alone"
            )
        check_range(self, "sft_seconds", low=0)
        check_range(self, "sft_lr", low=0, low_open=True)
        if self.algorithm == "sft" and self.sft_seconds <= 0:
            raise ValueError(
                "sft_seconds: algorithm=sft needs a wall-clock budget > 0 (the RL runs' wall time)"
            )
        if self.algorithm == "sft" and self.backend != "trl":
            raise ValueError("algorithm: 'sft' (the SFT baseline) runs on the trl backend only")
        check_range(self, "overlong_buffer", low=0, high=self.max_completion_length - 1)
        if not self.eval_splits and not self.eval_benchmarks:
            raise ValueError("eval_splits: name at least one split (or rl.eval_benchmarks) to evaluate")
        from saerl.data.benchmarks import BENCHMARKS

        for name in (*self.eval_benchmarks, *self.benchmark_files):
            if name not in BENCHMARKS:
                raise ValueError(
                    f"eval_benchmarks: unknown benchmark {name!r}; choose from {sorted(BENCHMARKS)}"
                )
        if extra := sorted(set(self.benchmark_files) - set(self.eval_benchmarks)):
            raise ValueError(f"benchmark_files: {extra} not in rl.eval_benchmarks")
