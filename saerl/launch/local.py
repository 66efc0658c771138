"""Execute a planned stage graph in this process: each missing node built once, in order, with its
resolved input artifacts passed down; nodes already in the store are reused (verified once per
process). `saerl <stage>`, `saerl train` and `saerl study` all run through ``LocalExecutor``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from saerl.config import SaerlConfig
from saerl.curriculum.stage import build_curriculum_file
from saerl.data.benchmarks import build_benchmarks
from saerl.data.stage import build_data
from saerl.launch.graph import Node, StageGraph, topological
from saerl.models.stage import build_model, build_tokenizer, check_external_model
from saerl.rl.eval0 import build_eval0
from saerl.sae.stage import build_activations, build_features, build_sae
from saerl.signals.stage import build_labels, build_signals
from saerl.store import Artifact, ArtifactStore, BuildContext, StoreError

log = logging.getLogger(__name__)

Builder = Callable[[BuildContext, dict[str, Any], dict[str, Artifact], str], None]
BUILDERS: dict[str, Builder] = {
    "data": build_data,
    "benchmarks": build_benchmarks,
    "tokenizer": build_tokenizer,
    "model": build_model,
    "activations": build_activations,
    "sae": build_sae,
    "features": build_features,
    "labels": build_labels,
    "signals": build_signals,
    "curriculum": build_curriculum_file,
    "eval0": build_eval0,
}


def external_artifact(node: Node) -> Artifact:
    """A model saerl does not build, in the shape of an artifact (its path is the folder or hub id)."""
    manifest = {"external": node.external, "config": node.config, "info": {}}
    return Artifact(node.stage, node.key, Path(node.external), manifest)


class LocalExecutor:
    def __init__(self, store: ArtifactStore, device: str = "auto", family: Sequence[str] = ()) -> None:
        self.store = store
        self._device = device
        self.family = tuple(family)
        """Names of the tiny family, for messages about unknown models."""
        self._done: dict[tuple[str, str], Any] = {}

    @property
    def device(self) -> str:
        if self._device == "auto":  # resolved only when something is built (it imports torch)
            from saerl.models.loading import resolve_device

            self._device = resolve_device("auto")
        return self._device

    def materialize(self, node: Node) -> Any:
        """The node's artifact (a run node: its run folder), after every missing ancestor. External
        models are checked first, so a bad one stops the work before anything is built."""
        order = topological([node])
        for n in order:
            if n.external and n.id not in self._done:
                check_external_model(n.external, self.family)
                self._done[n.id] = external_artifact(n)
        for n in order:
            if n.id not in self._done:
                self._done[n.id] = self._one(n)
        return self._done[node.id]

    def _one(self, node: Node) -> Any:
        if node.external:
            return external_artifact(node)
        inputs = {role: self._done[i.id] for role, i in node.inputs.items()}
        if node.stage == "run":
            from saerl.rl.run import execute_run

            return execute_run(node.params, inputs, self.device)
        build = BUILDERS[node.stage]
        art = self.store.get_or_build(
            node.stage,
            node.spec.version,
            node.config,
            lambda ctx: build(ctx, node.params, inputs, self.device),
            inputs=node.input_keys,
        )
        if art.key != node.key:  # the planned key is the built key, or the plan is wrong
            raise StoreError(f"{art.path}: built key {art.key} differs from the planned key {node.key}")
        return art


def build(cfg: SaerlConfig, store: ArtifactStore, stage: str) -> Any:
    """Plan ``cfg`` and materialise one stage's node (``'features'``, ``'signals'``, ``'run'``, ...)."""
    family = [m.name for m in cfg.models.family]
    return LocalExecutor(store, cfg.device, family).materialize(getattr(StageGraph(cfg), stage))


def train_run(cfg: SaerlConfig, store: ArtifactStore) -> Path:
    """Build (or reuse) every stage the run needs, then train; returns the run folder."""
    path: Path = build(cfg, store, "run")
    return path
