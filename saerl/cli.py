"""`saerl <command> [config.yaml] [key=value ...]`: one subcommand per stage.

Every command loads the same config (defaults <- YAML <- overrides), runs its stage and the stages it
needs through the artifact store (so finished work is reused), and prints what it produced.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

from saerl.config import ConfigError, SaerlConfig, load_config, to_dict
from saerl.data.records import DataError
from saerl.store import ArtifactStore

Command = Callable[[SaerlConfig, ArtifactStore], None]


def cmd_config(cfg: SaerlConfig, store: ArtifactStore) -> None:
    """Print the resolved config as YAML."""
    print(yaml.safe_dump(to_dict(cfg), sort_keys=False), end="")


def cmd_data(cfg: SaerlConfig, store: ArtifactStore) -> None:
    """Write the dataset (the miniature's splits, or a loaded source) and print counts."""
    from saerl.data.stage import data_stage

    art = data_stage(cfg, store)
    info = art.manifest["info"]
    print(f"data artifact: {art.path}")
    for split, n in info["sizes"].items():
        print(f"  {split:<9} {n:>6} records")
    for split, by in info.get("counts", {}).items():
        topics = ", ".join(f"{k}={v}" for k, v in sorted(by["topic"].items()))
        noise = ", ".join(f"{k}={v}" for k, v in sorted(by["noise"].items()))
        print(f"  {split:<9} topics: {topics}")
        print(f"  {split:<9} noise:  {noise}")


def cmd_models(cfg: SaerlConfig, store: ArtifactStore) -> None:
    """Build (or reuse) the tiny model family and print size, SFT time and greedy accuracy."""
    from saerl.data.stage import data_stage
    from saerl.models.stage import models_stage, summarize

    data = data_stage(cfg, store)
    arts = models_stage(cfg, store, data)
    print(f"{'model':<10} {'arch':<6} {'params':>9} {'sft_s':>7} {'acc_id':>7}  path")
    for name, art in arts.items():
        s = summarize(cfg.models.spec(name), art)
        print(f"{s.name:<10} {s.arch:<6} {s.params:>9,} {s.sft_seconds:>7.1f} {s.accuracy:>7.1%}  {s.path}")


def cmd_activations(cfg: SaerlConfig, store: ArtifactStore) -> None:
    """Check the source model and layer, count prompt tokens, keep held-out activations."""
    from saerl.sae.stage import activations_stage

    art = activations_stage(cfg, store)
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


def cmd_sae(cfg: SaerlConfig, store: ArtifactStore) -> None:
    """Train (or load) the SAE and print explained variance, L0 and dead fraction."""
    from saerl.sae.stage import sae_stage

    art = sae_stage(cfg, store)
    i = art.manifest["info"]
    print(f"sae artifact: {art.path / 'sae'}")
    print(f"  {cfg.sae.architecture} d_in={i['d_in']} d_sae={i['d_sae']} on {i['source_model']}")
    print(f"  hook {i['hook_name']}; trained in {i['train_seconds']} s")
    print(
        f"  explained variance {i['explained_variance']:.3f}  L0 {i['l0']:.1f}  "
        f"dead {i['dead_fraction']:.1%}  mse {i['mse']:.4g}  ({i['tokens']} held-out tokens)"
    )


def cmd_features(cfg: SaerlConfig, store: ArtifactStore) -> None:
    """Pooled SAE features z for every configured split; print rows, nnz per row and prompts/s."""
    from saerl.sae.stage import features_stage

    art = features_stage(cfg, store)
    print(f"features artifact: {art.path}")
    for split, s in art.manifest["info"]["splits"].items():
        print(
            f"  {split:<9} {s['rows']:>6} rows x {s['d_sae']} latents, {s['nnz_per_row']:>6} nnz/row, "
            f"{s['prompts_per_s']:>7} prompts/s"
        )


def cmd_signals(cfg: SaerlConfig, store: ArtifactStore) -> None:
    """Clusters, predicted difficulty and quality for every train prompt (rollout labels as needed)."""
    from saerl.signals.stage import signals_stage

    art = signals_stage(cfg, store)
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


def cmd_curriculum(cfg: SaerlConfig, store: ArtifactStore) -> None:
    """The ordered batch stream (curriculum.mode: saerl or an ablation) as one parquet file."""
    from saerl.curriculum.stage import FILE, curriculum_stage

    art = curriculum_stage(cfg, store)
    i = art.manifest["info"]
    print(f"curriculum: {art.path / FILE}")
    print(
        f"  mode {i['mode']}: {i['rows']} prompts in {i['batches']} batches of {cfg.curriculum.batch_size}, "
        f"{i['dropped']} dropped by the quality filter, {i['mean_clusters_per_batch']:.2f} clusters per batch"
    )


def cmd_study_signals(cfg: SaerlConfig, store: ArtifactStore) -> None:
    """The preliminary study: metrics JSON, cost table and figures under <reports_dir>/signals."""
    from saerl.signals.study import study_signals

    out = Path(cfg.reports_dir) / "signals"
    study = study_signals(cfg, store, out)
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


def cmd_train(cfg: SaerlConfig, store: ArtifactStore) -> None:
    """One RL run (GRPO/DAPO on rl.target_model over the curriculum); resumes if interrupted."""
    from saerl.rl.run import status, train_run

    path = train_run(cfg, store)
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


def cmd_study(sweep_file: Path, overrides: list[str]) -> None:
    """Run every point of a sweep file locally, in order, then print the per-run summary."""
    from analysis.sources.rundirs import read_run
    from analysis.summary import format_table, summary_rows
    from analysis.tidy import build
    from saerl.study import read_sweep, run_sweep

    sweep = read_sweep(sweep_file, overrides)
    print(f"sweep {sweep.name}: {len(sweep.points)} runs")
    paths = run_sweep(sweep)
    print(format_table(summary_rows(build(read_run(p) for p in paths))))


def cmd_report(argv: list[str]) -> None:
    """Tables and figures from runs: a run folder tree, offline W&B files, or a W&B project."""
    from analysis.report import write_report

    p = argparse.ArgumentParser(prog="saerl report", description=(cmd_report.__doc__ or "").strip())
    p.add_argument("runs", help="a folder of run folders (runs/<sweep>), or wandb:<entity>/<project>")
    p.add_argument("--out", default="reports/latest", help="output folder (default: reports/latest)")
    p.add_argument("--source", choices=["auto", "rundirs", "wandb-offline", "wandb-api"], default="auto",
                   help="auto: wandb-api for wandb:<entity>/<project>, else rundirs")  # fmt: skip
    p.add_argument("--filter", default="", help='W&B API filters as JSON, e.g. \'{"group": "miniature"}\'')
    p.add_argument("--cache", default="reports/.wandb-cache", help="parquet cache of W&B API histories")
    p.add_argument("--store", default="artifacts", help="artifact store whose manifests give the cost table")
    p.add_argument("--signals", default="reports/signals", help="`saerl study-signals` output folder")
    p.add_argument(
        "--target-acc", type=float, default=None, help="steps-to-target accuracy (default: vanilla's best)"
    )
    p.add_argument("--title", default="", help="report title")
    ns = p.parse_args(argv)
    source, runs = ns.source, ns.runs
    if runs.startswith("wandb:"):
        source, runs = "wandb-api", runs.removeprefix("wandb:")
    elif source == "auto":
        source = "rundirs"
    if source == "rundirs":
        from analysis.sources import rundirs

        rs = rundirs.load(runs)
    elif source == "wandb-offline":
        from analysis.sources import wandb_offline

        rs = wandb_offline.load(runs)
    else:
        from analysis.sources import wandb_api

        try:
            filters = json.loads(ns.filter) if ns.filter else None
        except json.JSONDecodeError as exc:
            raise ValueError(f"--filter: not valid JSON ({exc})") from exc
        rs = wandb_api.load(runs, filters, ns.cache)
    report = write_report(
        rs,
        Path(ns.out),
        title=ns.title or f"saerl report: {ns.runs}",
        store_dir=Path(ns.store),
        signals_dir=Path(ns.signals),
        target_acc=ns.target_acc,
    )
    print(f"report: {report} ({len(rs.runs)} runs)")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="saerl", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, fn in COMMANDS.items():
        p = sub.add_parser(name, help=(fn.__doc__ or "").strip().splitlines()[0])
        p.add_argument("args", nargs="*", metavar="[config.yaml] [key=value ...]")
    p = sub.add_parser("study", help=(cmd_study.__doc__ or "").splitlines()[0])
    p.add_argument("args", nargs="+", metavar="sweep.yaml [key=value ...]")
    p = sub.add_parser("report", help=(cmd_report.__doc__ or "").splitlines()[0], add_help=False)
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="RUNS [--out DIR] ...")
    return parser.parse_args(argv)


def split_config_args(args: list[str]) -> tuple[Path | None, list[str]]:
    """The first argument is a config file unless it is a key=value override."""
    if args and "=" not in args[0]:
        return Path(args[0]), args[1:]
    return None, args


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["report"]:  # its own parser (options such as --help go to it, not to saerl's)
        try:
            cmd_report(argv[1:])
        except (ValueError, FileNotFoundError, LookupError) as exc:
            print(f"saerl report: error: {exc}", file=sys.stderr)
            return 2
        return 0
    ns = parse_args(argv)
    try:
        if ns.command == "study":
            cmd_study(Path(ns.args[0]), ns.args[1:])
            return 0
        path, overrides = split_config_args(ns.args)
        cfg: SaerlConfig = load_config(path, overrides)
        store = ArtifactStore(cfg.store_dir)
        COMMANDS[ns.command](cfg, store)
    except (ConfigError, DataError, ValueError, FileNotFoundError, LookupError) as exc:
        print(f"saerl {ns.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
