"""Config of the signals stage: diversity clusters, difficulty labels and proxy, quality probe."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from saerl.configlib import check_range


@dataclass(frozen=True)
class DiversityConfig:
    """k-means on normalised z (docs/method.md section 2; algorithm and K are OUR CHOICE)."""

    n_clusters: int = 8
    """K. Must not exceed the number of prompts."""
    normalize: Literal["l2", "none"] = "l2"
    """Row normalisation of z before clustering (L2 default: cosine geometry)."""
    minibatch_above: int = 20000
    """Use MiniBatchKMeans when there are more prompts than this; KMeans otherwise."""
    topic_probe_test_fraction: float = 0.3
    """Held-out fraction for the topic probe (logistic regression on z) vs the majority baseline."""
    seed: int = 0
    """k-means and split seed."""

    def __post_init__(self) -> None:
        check_range(self, "n_clusters minibatch_above", low=1)
        check_range(self, "topic_probe_test_fraction", low=0, high=1, low_open=True, high_open=True)


@dataclass(frozen=True)
class DifficultyConfig:
    """Difficulty labels from rollouts on a small subset, and the ElasticNet proxy on z (section 3)."""

    labels: Literal["rollouts", "dataset"] = "rollouts"
    """'rollouts': 1 - pass rate of `label_model` over k samples; 'dataset': meta['difficulty']."""
    label_model: str = "source"
    """'source' (the SAE's source model), 'target' (rl target), or a family name / HF folder / hub id."""
    n_labelled: int = 600
    """Size of the labelled random subset (docs/method.md: 1-2k on real data; scaled down here)."""
    label_all: bool = False
    """Also label every prompt with rollouts (needed by the 'rollout' curriculum baseline and the
    cost comparison; this is the expensive route the SAE proxy replaces)."""
    samples: int = 8
    """k rollouts per prompt (docs/method.md: 8-16)."""
    temperature: float = 1.0
    """Sampling temperature of the rollouts."""
    max_new_tokens: int = 96
    """Generation budget per rollout."""
    backend: Literal["hf", "vllm"] = "hf"
    """'hf' batched `generate` (CPU or GPU); 'vllm' `LLM.generate` (GPU clusters, optional import)."""
    batch_size: int = 32
    """Prompts per generate call (each expands to `samples` sequences)."""
    test_fraction: float = 0.25
    """Held-out share of the labelled subset for the in-distribution correlation."""
    l1_ratios: tuple[float, ...] = (0.1, 0.5, 0.9, 1.0)
    """ElasticNetCV's l1_ratio grid."""
    cv_folds: int = 5
    """ElasticNetCV folds."""
    ood_split: str = "eval_ood"
    """Split used for the out-of-distribution correlation ('' to skip)."""
    n_ood_labelled: int = 150
    """Prompts of `ood_split` labelled with rollouts for the OOD correlation."""
    seed: int = 0
    """Subset, sampling and split seed."""

    def __post_init__(self) -> None:
        check_range(self, "n_labelled", low=10)
        check_range(self, "samples max_new_tokens batch_size n_ood_labelled", low=1)
        check_range(self, "cv_folds", low=2)
        check_range(self, "temperature", low=0, low_open=True)
        check_range(self, "test_fraction", low=0, high=1, low_open=True, high_open=True)
        if not self.l1_ratios or not all(0 < r <= 1 for r in self.l1_ratios):
            raise ValueError(f"l1_ratios: expected values in (0, 1], got {list(self.l1_ratios)}")


@dataclass(frozen=True)
class QualityConfig:
    """A linear probe on z separating clean from noisy items (section 4)."""

    n_labelled: int = 600
    """Size of the labelled subset. In the miniature the labels are the kept noise ground truth; on
    real data, clean items plus synthesised corruptions of them."""
    probe: Literal["logistic", "ridge"] = "logistic"
    """'logistic' (class probability of clean) or 'ridge' (score)."""
    synth_noise_rate: float = 0.3
    """Real data only: fraction of the labelled subset corrupted to make negatives."""
    test_fraction: float = 0.3
    """Held-out share for AUC/Pearson."""
    seed: int = 0
    """Subset and split seed."""

    def __post_init__(self) -> None:
        check_range(self, "n_labelled", low=4)
        check_range(self, "synth_noise_rate test_fraction", low=0, high=1, low_open=True, high_open=True)


@dataclass(frozen=True)
class SignalsConfig:
    """All three signals."""

    diversity: DiversityConfig = field(default_factory=DiversityConfig)
    """Clusters."""
    difficulty: DifficultyConfig = field(default_factory=DifficultyConfig)
    """Difficulty labels and proxy."""
    quality: QualityConfig = field(default_factory=QualityConfig)
    """Quality probe."""
