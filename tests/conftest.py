"""Shared fixtures. Everything runs offline on CPU, with tiny, seeded inputs."""

from __future__ import annotations

import os

# No hub on the machines this suite runs on: fail fast instead of retrying the network.
for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(var, "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("TQDM_DISABLE", "1")

import pytest  # noqa: E402

from saerl.store import ArtifactStore  # noqa: E402


@pytest.fixture
def store(tmp_path):
    return ArtifactStore(tmp_path / "store")


TINY_MODEL = (
    "{name: qwen2-xs, arch: qwen2, hidden_size: 64, num_layers: 3, num_heads: 2, intermediate_size: 128}"
)
TINY_OVERRIDES = (
    *(
        "data.arith.n_train=240",
        "data.arith.n_sft=100",
        "data.arith.n_eval_id=30",
        "data.arith.n_eval_ood=40",
        "data.arith.n_val=30",
    ),
    f"models.family=[{TINY_MODEL}]",
    *(
        "models.sft.steps=5",
        "models.sft.batch_size=8",
        "models.sft.eval_items=5",
        "models.sft.max_new_tokens=8",
    ),
    *("sae.training_tokens=8192", "sae.batch_size_tokens=256", "sae.expansion=4", "sae.k=8"),
    "activations.shuffle_buffer_tokens=1024",
    *(
        "signals.diversity.n_clusters=3",
        "signals.difficulty.n_labelled=60",
        "signals.difficulty.n_ood_labelled=20",
    ),
    *(
        "signals.difficulty.samples=2",
        "signals.difficulty.max_new_tokens=12",
        "signals.quality.n_labelled=120",
    ),
    "curriculum.batch_size=8",
)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """(overrides, store) of a tiny miniature whose stages tests build once and share."""
    store = ArtifactStore(tmp_path_factory.mktemp("tiny-store"))
    return list(TINY_OVERRIDES), store


# A tiny RL run (GRPO, token-mean loss, unless rl.algorithm says otherwise): 4 steps of 8 prompts
# x 2 completions, evals at 0/2/4, checkpoints at 2/4.
RL_OVERRIDES = (
    "rl.target_model=qwen2-xs",
    "rl.num_generations=2",
    "rl.max_completion_length=8",
    "rl.eval_items=4",
    "rl.eval_max_new_tokens=8",
    "rl.steps=4",
    "rl.eval_every=2",
    "rl.save_every=2",
)


def killed_at_step(make_reward, step):
    """A make_reward whose reward function raises KeyboardInterrupt (a kill) once TRL's
    global_step reaches ``step``, i.e. while scoring the completions of step ``step + 1``."""

    def make(kind):
        reward = make_reward(kind)

        def r(prompts, completions, trainer_state=None, **kw):
            if trainer_state.global_step == step:
                raise KeyboardInterrupt(f"killed at step {step}")
            return reward(prompts, completions, **kw)

        r.__name__ = reward.__name__
        return r

    return make
