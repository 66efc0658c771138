"""The stage commands: `saerl <stage> [config.yaml] [key=value ...]` builds that stage of one
config's graph (and whatever it needs, each once, through the store) and prints what it produced."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

from saerl.config import SaerlConfig, to_dict
from saerl.launch.graph import StageGraph
from saerl.launch.local import LocalExecutor

Command = Callable[[SaerlConfig, StageGraph, LocalExecutor], None]


def cmd_config(cfg: SaerlConfig, graph: StageGraph, ex: LocalExecutor) -> None:
    """Print the resolved config as YAML."""
    print(yaml.safe_dump(to_dict(cfg), sort_keys=False), end="")


def cmd_data(cfg: SaerlConfig, graph: StageGraph, ex: LocalExecutor) -> None:
    """Write the dataset (the miniature's splits, or a loaded source) and print counts."""
    art = ex.materialize(graph.data)
    info = art.manifest["info"]
    print(f"data artifact: {art.path}")
    for split, n in info["sizes"].items():
        print(f"  {split:<9} {n:>6} records")
    for split, by in info.get("counts", {}).items():
        topics = ", ".join(f"{k}={v}" for k, v in sorted(by["topic"].items()))
        noise = ", ".join(f"{k}={v}" for k, v in sorted(by["noise"].items()))
        print(f"  {split:<9} topics: {topics}")
        print(f"  {split:<9} noise:  {noise}")


def cmd_models(cfg: SaerlConfig, graph: StageGraph, ex: LocalExecutor) -> None:
    """Build (or reuse) the tiny model family and print size, SFT time and greedy accuracy."""
    from saerl.models.stage import summarize

    print(f"{'model':<10} {'arch':<6} {'params':>9} {'sft_s':>7} {'acc_id':>7}  path")
    for spec, node in zip(cfg.models.selected(), graph.models(), strict=True):
        s = summarize(spec, ex.materialize(node))
        print(f"{s.name:<10} {s.arch:<6} {s.params:>9,} {s.sft_seconds:>7.1f} {s.accuracy:>7.1%}  {s.path}")


def cmd_activations(cfg: SaerlConfig, graph: StageGraph, ex: LocalExecutor) -> None:
    """Check the source model and layer, count prompt tokens, keep held-out activations."""
    art = ex.materialize(graph.activations)
    info = art.manifest["info"]
    print(f"activations artifact: {art.path}")
    print(
        f"  source {info['source_model']} at {info['hook_name']} (of {info['n_layers']} layers), "
        f"d_model {info['d_model']}"
    )
    print(
        f"  {info['train_prompts']} training prompts, {info['train_tokens_per_epoch']} tokens per epoch, "
        f"{info['prompts_per_s']} prompts/s; {info['eval_tokens']} held-out tokens kept"
    )


def cmd_sae(cfg: SaerlConfig, graph: StageGraph, ex: LocalExecutor) -> None:
    """Train (or load) the SAE and print explained variance, L0 and dead fraction."""
    art = ex.materialize(graph.sae)
    i = art.manifest["info"]
    print(f"sae artifact: {art.path / 'sae'}")
    print(f"  {cfg.sae.architecture} d_in={i['d_in']} d_sae={i['d_sae']} on {i['source_model']}")
    print(f"  hook {i['hook_name']}; trained in {i['train_seconds']} s")
    print(
        f"  explained variance {i['explained_variance']:.3f}  L0 {i['l0']:.1f}  "
        f"dead {i['dead_fraction']:.1%}  mse {i['mse']:.4g}  ({i['tokens']} held-out tokens)"
    )


def cmd_features(cfg: SaerlConfig, graph: StageGraph, ex: LocalExecutor) -> None:
    """Pooled SAE features z for every configured split; print rows, nnz per row and prompts/s."""
    art = ex.materialize(graph.features)
    print(f"features artifact: {art.path}")
    for split, s in art.manifest["info"]["splits"].items():
        print(
            f"  {split:<9} {s['rows']:>6} rows x {s['d_sae']} latents, {s['nnz_per_row']:>6} nnz/row, "
            f"{s['prompts_per_s']:>7} prompts/s"
        )


def cmd_signals(cfg: SaerlConfig, graph: StageGraph, ex: LocalExecutor) -> None:
    """Clusters, predicted difficulty and quality for every train prompt (rollout labels as needed)."""
    art = ex.materialize(graph.signals)
    print(f"signals artifact: {art.path / 'signals.jsonl'}")
    print(summarize_signals(art.manifest["info"]["metrics"]))


def summarize_signals(m: dict) -> str:
    lines = [f"  clusters: k={m['clusters']['k']} sizes {m['clusters']['sizes']}"]
    if m.get("topic_probe"):
        t = m["topic_probe"]
        lines.append(f"  topic probe: accuracy {t['accuracy']:.3f} vs majority {t['majority_baseline']:.3f}")
    d = m["difficulty"]
    for where in ("in_distribution", "out_of_distribution"):
        for name, c in d.get(where, {}).items():
            if c["pearson"] != c["pearson"]:  # NaN: the labels (or predictions) do not vary
                lines.append(f"  difficulty {where:<19} {name:<8} undefined: constant labels (n={c['n']})")
                continue
            lines.append(
                f"  difficulty {where:<19} {name:<8} pearson {c['pearson']:+.3f} "
                f"spearman {c['spearman']:+.3f} (n={c['n']})"
            )
    q = m["quality"]
    lines.append(
        f"  quality AUC: sae {q['sae']['auc']:.3f} vs metadata {q['metadata']['auc']:.3f} (n={q['n_test']})"
    )
    return "\n".join(lines)


def cmd_curriculum(cfg: SaerlConfig, graph: StageGraph, ex: LocalExecutor) -> None:
    """The ordered batch stream (curriculum.mode: saerl or an ablation) as one parquet file."""
    from saerl.curriculum.stage import FILE

    art = ex.materialize(graph.curriculum)
    i = art.manifest["info"]
    print(f"curriculum: {art.path / FILE}")
    print(
        f"  mode {i['mode']}: {i['rows']} prompts in {i['batches']} batches of {cfg.curriculum.batch_size}, "
        f"{i['dropped']} dropped by the quality filter, {i['mean_clusters_per_batch']:.2f} clusters per batch"
    )


def cmd_study_signals(cfg: SaerlConfig, graph: StageGraph, ex: LocalExecutor) -> None:
    """The preliminary study: metrics JSON, cost table and figures under <reports_dir>/signals."""
    from saerl.studies.signals import study_signals

    out = Path(cfg.reports_dir) / "signals"
    roles = {"data": graph.data, "activations": graph.activations, "sae": graph.sae}
    roles |= {"features": graph.features, "signals": graph.signals, **graph.label_nodes()}
    study = study_signals({role: ex.materialize(node) for role, node in roles.items()}, out)
    print(summarize_signals(study))
    c = study["cost"]
    print(f"  cost: SAE route {c['sae_route_total_wall_s']:.1f} s wall", end="")
    if "rollout_all" in c:
        print(
            f"; rollout labels for all prompts {c['rollout_all']['wall_s']:.1f} s "
            f"({c['rollout_all_over_sae_route']:.2f}x)",
            end="",
        )
    print(f"\n  written: {out / 'study.json'} and {len(study['figures'])} figure files")


def cmd_train(cfg: SaerlConfig, graph: StageGraph, ex: LocalExecutor) -> None:
    """One RL run (GRPO/DAPO on rl.target_model over the curriculum); resumes if interrupted."""
    from saerl.rl.run import status

    path = ex.materialize(graph.run)
    final = status(path).get("final", {})
    print(f"run: {path}")
    for key, value in sorted(final.items()):
        print(f"  {key:<28} {value:.3f}")


COMMANDS: dict[str, Command] = {
    "config": cmd_config,
    "data": cmd_data,
    "models": cmd_models,
    "activations": cmd_activations,
    "sae": cmd_sae,
    "features": cmd_features,
    "signals": cmd_signals,
    "curriculum": cmd_curriculum,
    "study-signals": cmd_study_signals,
    "train": cmd_train,
}
