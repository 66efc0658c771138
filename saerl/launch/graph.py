"""The pipeline as a stage graph: nodes are data, planned from a config before anything runs.

A node names its stage, the parameters its builder receives (its own config section plus the few
named values it needs from other sections), its input nodes by role, and its resource kind. Its
store key hashes the stage, the stage's code version, its parameters and its inputs' keys, so a
whole sweep's keys are known from configs alone (`saerl plan`), without building or reading any
artifact. Models that saerl does not build (an HF folder, a hub id) are external leaves keyed by a
fingerprint of the folder's config and weight files, or by the hub id.

    data -> tokenizer -> model (the tiny family)        external model (folder / hub id)
      |                    |  \\______________________________/
      +---------------> activations -> sae -> features
      +--> labels (rollouts of a label model on a subset) --+
      +-----------------------------------------------------+--> signals -> curriculum -> run
                                        (vanilla: data -> curriculum, no SAE) ---------^

Executors (``saerl.launch.local``; Slurm later) walk this graph; nothing here imports torch.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from saerl.config import SaerlConfig, flat_defaults, replicated, to_dict
from saerl.configlib import flat_dict
from saerl.curriculum import stage as curriculum_stage
from saerl.data import benchmarks as benchmarks_stage
from saerl.data import stage as data_stage
from saerl.data.grading import resolve_grader_kind
from saerl.fingerprint import FingerprintCache, fingerprint, hub_revision
from saerl.models import stage as models_stage
from saerl.rl import eval0 as rl_eval0
from saerl.rl import run as rl_run
from saerl.sae import stage as sae_stage
from saerl.signals import stage as signals_stage
from saerl.store import artifact_key

Resource = Literal["cpu", "gpu", "multi_gpu"]
"""What a node's job needs: CPUs only, one accelerator when there is one, or several nodes of them."""


@dataclass(frozen=True)
class StageSpec:
    version: str
    """Bumped in the stage's module when the outputs a config produces change."""
    resource: Resource
    artifact: bool = True
    """False for nodes whose output is not a store artifact (RL runs: a run folder)."""


STAGES: dict[str, StageSpec] = {
    "data": StageSpec(data_stage.VERSION, "cpu"),
    "benchmarks": StageSpec(benchmarks_stage.VERSION, "cpu"),
    "tokenizer": StageSpec(models_stage.TOKENIZER_VERSION, "cpu"),
    "model": StageSpec(models_stage.MODEL_VERSION, "gpu"),
    "activations": StageSpec(sae_stage.ACTIVATIONS_VERSION, "gpu"),
    "sae": StageSpec(sae_stage.SAE_VERSION, "gpu"),
    "features": StageSpec(sae_stage.FEATURES_VERSION, "gpu"),
    "labels": StageSpec(signals_stage.LABELS_VERSION, "gpu"),
    "signals": StageSpec(signals_stage.SIGNALS_VERSION, "cpu"),
    "curriculum": StageSpec(curriculum_stage.VERSION, "cpu"),
    "eval0": StageSpec(rl_eval0.VERSION, "gpu"),
    "run": StageSpec(rl_run.VERSION, "gpu", artifact=False),
}


@dataclass(frozen=True, eq=False)
class Node:
    stage: str
    label: str
    """What a person calls it: 'model qwen2-xs', 'labels train/600', 'curriculum saerl'."""
    params: dict[str, Any]
    """What the builder receives: typed config sections and plain values (hashed into the key)."""
    inputs: dict[str, Node] = field(default_factory=dict)
    """Upstream nodes by role ('data', 'source', 'sae', ...), in key order."""
    external: str = ""
    """For models saerl does not build: the folder or hub id (then ``external_key`` is the key)."""
    external_key: str = ""
    kind: str = ""
    """The resource kind when it is not the stage's (an OpenRLHF run: multi_gpu)."""

    @functools.cached_property
    def key(self) -> str:
        if self.external:
            return self.external_key
        return artifact_key(self.stage, self.spec.version, self.config, self.input_keys)

    @property
    def spec(self) -> StageSpec:
        return STAGES[self.stage]

    @property
    def resource(self) -> Resource:
        if self.external:
            return "cpu"
        return self.kind if self.kind in ("cpu", "gpu", "multi_gpu") else self.spec.resource  # type: ignore[return-value]

    @functools.cached_property
    def config(self) -> dict[str, Any]:
        """The plain (JSON) form of ``params``: what the key hashes and the manifest records
        (performance-only settings left out)."""
        return to_dict(self.params, keyed=True)

    @property
    def input_keys(self) -> list[str]:
        return [n.key for n in self.inputs.values()]

    @property
    def id(self) -> tuple[str, str]:
        return (self.stage, self.key)


# Short names of sweep keys in run folder names; other keys use their last dotted part.
NAME_PARTS = {"rl.target_model", "curriculum.mode", "rl.seed", "replicate", "name"}


def run_name(cfg: SaerlConfig, varying: Sequence[str] = ()) -> str:
    """target-method[-other varying keys]-s<seed>-<identity hash>: readable, and unique per identity
    (method: the curriculum mode, or 'sft' for the SFT baseline)."""
    config = to_dict(cfg)
    flat = flat_dict(config)
    method = "sft" if cfg.rl.algorithm == "sft" else cfg.curriculum.mode
    parts = [Path(str(cfg.rl.target_model)).name, method]
    parts += [f"{k.rsplit('.', 1)[-1]}{flat[k]}" for k in varying if k not in NAME_PARTS and k in flat]
    parts += [f"s{cfg.rl.seed}"] + ([f"r{cfg.replicate}"] if cfg.replicate else [])
    parts += [rl_run.identity_hash(config, flat_defaults())]
    return "".join(c if c.isalnum() or c in "_.-" else "_" for c in "-".join(parts))


class StageGraph:
    """The nodes one experiment config needs, created on demand and memoised (one node per role)."""

    def __init__(self, cfg: SaerlConfig, varying: Sequence[str] = ()) -> None:
        self.cfg = cfg
        """The config as given (what runs record and jobs carry)."""
        self.eff = replicated(cfg)
        """The same with its replicate's seeds: every node's params are built from it."""
        self.varying = tuple(varying)
        self.grader = resolve_grader_kind(cfg.data.grader, cfg.data.source)
        self.prints = FingerprintCache(Path(cfg.store_dir) / ".fingerprints.json")

    def content(self, path: str) -> str | None:
        """Content fingerprint of a local file or folder (None: not a local path, e.g. a hub id)."""
        return fingerprint(path, self.prints) if Path(path).exists() else None

    @functools.cached_property
    def data(self) -> Node:
        params: dict[str, Any] = {"data": self.eff.data}
        source = self.eff.data.source
        if source != "arith" and (fp := self.content(source)):
            params["source_content"] = fp  # an edited file is new data
        elif source != "arith" and (rev := hub_revision(source, "dataset")):
            params["source_revision"] = rev  # a hub dataset: the commit it resolves to
        return Node("data", "data", params)

    @functools.cached_property
    def benchmarks(self) -> Node | None:
        """The named benchmark sets the runs evaluate (None: none named)."""
        rl = self.eff.rl
        if not rl.eval_benchmarks:
            return None
        sources = {name: rl.benchmark_files.get(name, "") for name in rl.eval_benchmarks}
        params: dict[str, Any] = {"benchmarks": sources}
        prints = {name: fp for name, src in sources.items() if src and (fp := self.content(src))}
        if prints:
            params["content"] = prints  # an edited local copy is a new eval set
        return Node("benchmarks", "benchmarks", params)

    def eval_inputs(self) -> dict[str, Node]:
        """What evaluating a target needs: the data (its eval splits) and the benchmarks, if any."""
        return {"data": self.data} | ({"benchmarks": self.benchmarks} if self.benchmarks else {})

    @functools.cached_property
    def tokenizer(self) -> Node:
        return Node("tokenizer", "tokenizer", {"tokenizer": self.eff.models.tokenizer}, {"data": self.data})

    @functools.cache  # noqa: B019 - one graph per config, kept for the life of a plan
    def model(self, name: str) -> Node:
        """A family name is built by saerl; anything else is an external folder or hub id."""
        cfg = self.cfg
        if name in {m.name for m in cfg.models.family}:
            if cfg.data.source != "arith":
                raise ValueError(
                    f"models: the tiny family is trained on the miniature's data (data.source=arith), "
                    f"not {cfg.data.source!r}; real runs name hub models or folders instead"
                )
            params = {"spec": cfg.models.spec(name), "sft": cfg.models.sft, "grader": self.grader}
            return Node("model", f"model {name}", params, {"data": self.data, "tokenizer": self.tokenizer})
        key = models_stage.external_model_key(name, self.prints)
        return Node("model", f"model {name}", {"name": name}, external=name, external_key=key)

    def models(self) -> list[Node]:
        return [self.model(spec.name) for spec in self.eff.models.selected()]

    @functools.cached_property
    def source(self) -> Node:
        return self.model(self.eff.activations.source_model)

    @functools.cached_property
    def activations(self) -> Node:
        # The SAE's held-out prompts are drawn with the SAE seed, so it is part of this key.
        params = {"activations": self.eff.activations, "holdout_seed": self.eff.sae.seed}
        return Node("activations", "activations", params, {"data": self.data, "source": self.source})

    @functools.cached_property
    def sae(self) -> Node:
        params = {"sae": self.eff.sae, "activations": self.eff.activations, "holdout_seed": self.eff.sae.seed}
        if pre := self.eff.sae.pretrained:
            if Path(pre).exists() and not (Path(pre) / "cfg.json").is_file():
                raise ValueError(
                    f"sae.pretrained={pre}: not an SAE folder in sae-lens's format (no cfg.json)"
                )
            if pre.startswith((".", "/", "~")) and not Path(pre).exists():
                raise ValueError(f"sae.pretrained={pre}: no such folder")
            if fp := self.content(pre):
                params["pretrained_content"] = fp  # replaced weights are another SAE
        inputs = {"data": self.data, "source": self.source, "activations": self.activations}
        return Node("sae", "sae", params, inputs)

    @functools.cached_property
    def features(self) -> Node:
        params = {"features": self.eff.features, "activations": self.eff.activations}
        return Node(
            "features", "features", params, {"data": self.data, "source": self.source, "sae": self.sae}
        )

    @functools.cached_property
    def label_model(self) -> Node:
        name = self.eff.signals.difficulty.label_model
        name = {"source": self.eff.activations.source_model, "target": self.eff.rl.target_model}.get(
            name, name
        )
        return self.model(name)

    @functools.cache  # noqa: B019
    def labels(self, split: str, n: int | None) -> Node:
        """Rollout labels for ``n`` seeded records of ``split`` (None: every record)."""
        d = self.eff.signals.difficulty
        params = {
            "split": split,
            "n": n,
            "samples": d.samples,
            "temperature": d.temperature,
            "max_new_tokens": d.max_new_tokens,
            "backend": d.backend,
            "batch_size": d.batch_size,  # each batch reseeds the sampler, so it changes the labels
            "seed": d.seed,
            "grader": self.grader,
        }
        if self.eff.rl.instruction:  # what the label model is asked, exactly as the RL target is
            params["instruction"] = self.eff.rl.instruction
        size = "all" if n is None else n
        return Node(
            "labels", f"labels {split}/{size}", params, {"data": self.data, "model": self.label_model}
        )

    def label_nodes(self) -> dict[str, Node]:
        """The labels the signals stage reads, by role: train subset, OOD subset, every prompt."""
        d = self.eff.signals.difficulty
        out = {}
        if d.labels == "rollouts":
            out["labels_train"] = self.labels("train", d.n_labelled)
            if self.has_ood:
                out["labels_ood"] = self.labels(d.ood_split, d.n_ood_labelled)
        if d.label_all:
            out["labels_all"] = self.labels("train", None)
        return out

    @property
    def has_ood(self) -> bool:
        ood = self.eff.signals.difficulty.ood_split
        return bool(ood) and ood in self.eff.features.splits

    @functools.cached_property
    def signals(self) -> Node:
        cfg = self.eff
        params = {
            "signals": cfg.signals,
            "ood_split": cfg.signals.difficulty.ood_split if self.has_ood else "",
            # The source and SAE featurise synthesised negatives on real data (no noise labels there).
            "activations": cfg.activations,
            "pooling": cfg.features.pooling,
        }
        inputs = {"data": self.data, "features": self.features, "source": self.source, "sae": self.sae}
        return Node("signals", "signals", params, inputs | self.label_nodes())

    @functools.cached_property
    def curriculum(self) -> Node:
        c = self.eff.curriculum
        # The stream is fitted to the run's step budget (one batch per step), so steps are part of it.
        params: dict[str, Any] = {"curriculum": c, "steps": self.eff.rl.steps}
        # Vanilla orders by a seeded shuffle: it needs no model signals, so it never waits for the SAE.
        if c.mode == "vanilla":
            return Node("curriculum", f"curriculum {c.mode}", params, {"data": self.data})
        inputs = {"data": self.data, "signals": self.signals}
        if c.mode != "no_cluster":  # the prompts kept by the quality filter are clustered on z
            params["diversity"] = self.eff.signals.diversity
            inputs["features"] = self.features
        return Node("curriculum", f"curriculum {c.mode}", params, inputs)

    @functools.cached_property
    def target(self) -> Node:
        return self.model(self.eff.rl.target_model)

    @functools.cached_property
    def run(self) -> Node:
        cfg = self.eff
        name = run_name(self.cfg, self.varying)
        flat = flat_dict(self.cfg)
        # Swept knobs beyond the condition's own columns (e.g. rl.lr): they tell runs apart in reports.
        own = NAME_PARTS | {"curriculum.rho", "activations.source_model"}
        variant = ",".join(
            f"{k.rsplit('.', 1)[-1]}={flat[k]}" for k in self.varying if k not in own and k in flat
        )
        params = {
            "rl": cfg.rl,
            "grader": self.grader,
            "name": name,
            "config": to_dict(self.cfg),  # the seeds as given: a job re-plans from it
            "defaults": flat_defaults(),  # what the run folder's identity is measured against
            "variant": variant,
        }
        inputs = {**self.eval_inputs(), "curriculum": self.curriculum, "target": self.target}
        kind = ""
        if cfg.rl.backend == "openrlhf":  # OpenRLHF evaluates only after steps: step 0 is a node
            kind, inputs["eval0"] = "multi_gpu", self.eval0
        return Node("run", f"run {name}", params, inputs, kind=kind)

    @functools.cached_property
    def eval0(self) -> Node:
        """The target's accuracy before RL, shared by every run of the target (OpenRLHF runs)."""
        params = rl_eval0.eval0_params(self.eff.rl, self.grader)
        inputs = {**self.eval_inputs(), "target": self.target}
        return Node("eval0", f"eval0 {self.eff.rl.target_model}", params, inputs)


def topological(targets: Iterable[Node]) -> list[Node]:
    """Every node the targets need, each once, inputs before the nodes that use them."""
    order: list[Node] = []
    seen: set[tuple[str, str]] = set()

    def visit(node: Node) -> None:
        if node.id in seen:
            return
        for child in node.inputs.values():
            visit(child)
        seen.add(node.id)
        order.append(node)

    for t in targets:
        visit(t)
    return order


@dataclass
class Plan:
    """Nodes in build order (shared ones once) and, per node, how many of the plan's targets need it."""

    nodes: list[Node]
    targets: list[Node]
    users: dict[tuple[str, str], int]

    @classmethod
    def of(cls, targets: Sequence[Node]) -> Plan:
        users: dict[tuple[str, str], int] = {}
        for t in targets:
            for n in topological([t]):
                users[n.id] = users.get(n.id, 0) + 1
        return cls(topological(targets), list(targets), users)


def stage_target(graph: StageGraph, stage: str) -> list[Node]:
    """The node(s) a stage command builds (`saerl features` -> the features node)."""
    if stage == "models":
        return graph.models()
    if stage == "study-signals":
        return [graph.signals, graph.activations, graph.sae, graph.features, *graph.label_nodes().values()]
    return [getattr(graph, stage)]
