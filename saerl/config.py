"""The whole experiment's config: one section per stage, composed here at the top.

Stage code never imports this module: each stage receives only its own section (and the few named
values it needs from others) through the stage graph (``saerl.launch.graph``). The loader itself is
``saerl.configlib``; ``load_experiment`` is the one call that builds a ``SaerlConfig``.
"""

from __future__ import annotations

import functools
import typing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from saerl.configlib import ConfigError, flat_dict, load_config, to_dict
from saerl.curriculum.config import CurriculumConfig
from saerl.data.config import DataConfig
from saerl.models.config import ModelsConfig
from saerl.rl.config import RLConfig
from saerl.sae.config import ActivationsConfig, FeaturesConfig, SaeConfig
from saerl.signals.config import SignalsConfig

__all__ = ["ConfigError", "SaerlConfig", "flat_defaults", "flat_dict", "load_experiment", "to_dict"]


@dataclass(frozen=True)
class SaerlConfig:
    """The whole experiment: where outputs go, plus one section per stage."""

    name: str = "miniature"
    """Experiment name; becomes the W&B group and the prefix of run directories."""
    store_dir: str = "artifacts"
    """Root of the content-addressed artifact store (stage outputs, reused across runs)."""
    runs_dir: str = "runs"
    """Where run directories (config, metrics.jsonl, checkpoints) are written."""
    reports_dir: str = "reports"
    """Where studies and reports (JSON, markdown, figures) are written."""
    seed: int = 0
    """Global seed; stages derive their own seeds from their section's `seed` fields."""
    replicate: int = 0
    """A re-draw of the whole pipeline's randomness: replicate r > 0 offsets every pipeline seed by
    r (the SAE's init, shuffling and held-out prompts; the rollout-label subset and sampling;
    k-means; the quality probe and its negatives; the curriculum's order and tie-breaks; the RL
    run), so each replicate is an independent pipeline with its own keys, and vanilla and SAERL of
    one replicate form a pair (analysis/paired.py). 0 keeps the seeds as configured. The warm-start
    models and the data are shared: they are the experiment's fixed inputs."""
    device: str = "auto"
    """'auto' (cuda if available, else cpu), 'cpu', or 'cuda[:N]'."""
    data: DataConfig = field(default_factory=DataConfig)
    """Where prompts come from and how raw rows map onto records."""
    models: ModelsConfig = field(default_factory=ModelsConfig)
    """The miniature's tiny model family and its SFT warm-start."""
    activations: ActivationsConfig = field(default_factory=ActivationsConfig)
    """Running the source model S over prompts (layer, formatting, batching)."""
    sae: SaeConfig = field(default_factory=SaeConfig)
    """The sparse autoencoder on S's activations (trained with sae-lens, or pretrained)."""
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    """Pooling SAE activations into one sparse vector per prompt."""
    signals: SignalsConfig = field(default_factory=SignalsConfig)
    """Clusters, difficulty labels + proxy, quality probe."""
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    """Filtering, ordering and batching into the RL stream."""
    rl: RLConfig = field(default_factory=RLConfig)
    """GRPO/DAPO on the target model, evaluation and tracking."""

    def __post_init__(self) -> None:
        from saerl.configlib import check_path_component

        check_path_component("name", self.name)  # runs/<name>/, W&B group, Slurm logs: one folder
        if not (self.device in ("auto", "cpu") or self.device.startswith("cuda")):
            raise ValueError(f"device: expected 'auto', 'cpu' or 'cuda[:N]', got {self.device!r}")
        if self.curriculum.mode == "coverage" and self.signals.difficulty.labels != "rollouts":
            raise ValueError(
                "curriculum.mode=coverage: learnability reads the difficulty proxy as a failure rate, "
                "so it needs signals.difficulty.labels=rollouts (dataset difficulty levels are no rate)"
            )


@functools.cache
def flat_defaults() -> dict[str, Any]:
    """Every flat config key at its default: what a run's identity is measured against
    (``saerl.rl.run.identity``; the stage graph passes it to each run)."""
    return flat_dict(to_dict(SaerlConfig()))


def replicated(cfg: SaerlConfig) -> SaerlConfig:
    """The seeds replicate ``cfg.replicate`` runs with (see ``SaerlConfig.replicate``); the stage
    graph builds every node from this, while the config a run records keeps the seeds as given."""
    r = cfg.replicate
    if not r:
        return cfg
    s = cfg.signals
    signals = replace(
        s,
        diversity=replace(s.diversity, seed=s.diversity.seed + r),
        difficulty=replace(s.difficulty, seed=s.difficulty.seed + r),
        quality=replace(s.quality, seed=s.quality.seed + r),
    )
    return replace(
        cfg,
        sae=replace(cfg.sae, seed=cfg.sae.seed + r),
        signals=signals,
        curriculum=replace(cfg.curriculum, seed=cfg.curriculum.seed + r),
        rl=replace(cfg.rl, seed=cfg.rl.seed + r),
    )


def load_experiment(
    path: str | Path | None = None,
    overrides: typing.Sequence[str] = (),
    base: dict[str, Any] | None = None,
) -> SaerlConfig:
    """``load_config(SaerlConfig, ...)``: defaults <- YAML (or ``base``) <- ``key=value`` overrides."""
    return load_config(SaerlConfig, path, overrides, base)
