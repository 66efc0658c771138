"""`saerl <command> [config.yaml] [key=value ...]`: one subcommand per stage.

Every command loads the same config (defaults <- YAML <- overrides), plans the stage graph for it
(``saerl.launch.graph``), builds the missing nodes its stage needs, each once, through the artifact
store (finished work is reused), and prints what it produced. `saerl plan` shows the graph without
building anything.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from saerl.config import ConfigError, SaerlConfig, load_experiment, to_dict
from saerl.data.records import DataError
from saerl.launch.graph import StageGraph
from saerl.launch.local import LocalExecutor
from saerl.launch.profiles import ClusterProfile
from saerl.models.loading import ModelError
from saerl.rl.openrlhf.ray_cluster import RayClusterError
from saerl.rl.run import RunConflict
from saerl.store import ArtifactStore

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


def cmd_study(sweep_file: Path, overrides: list[str]) -> None:
    """Run every point of a sweep file locally, in order, then print the per-run summary."""
    from analysis.sources.rundirs import read_run
    from analysis.summary import format_table, summary_rows
    from analysis.tidy import build
    from saerl.launch.sweep import read_sweep, run_sweep

    sweep = read_sweep(sweep_file, overrides)
    print(f"sweep {sweep.name}: {len(sweep.points)} runs")
    paths = run_sweep(sweep)
    print(format_table(summary_rows(build(read_run(p) for p in paths))))


def cluster_args(args: list[str]) -> tuple[list[str], str, bool]:
    """(overrides, CLUSTER=<profile>, DRY_RUN=1) from the arguments after a sweep or config file."""
    rest, cluster, dry = [], "", False
    for arg in args:
        if arg.startswith("CLUSTER="):
            cluster = arg.partition("=")[2]
        elif arg.startswith("DRY_RUN="):
            dry = arg.partition("=")[2] not in ("", "0", "false", "no")
        else:
            rest.append(arg)
    return rest, cluster, dry


def cmd_plan(target: Path | None, args: list[str]) -> None:
    """Print the stage graph of a config or sweep file: nodes in build order, keys, what is built;
    with CLUSTER=<profile>, each node's request, GPU-hours and its latest job."""
    import yaml as _yaml

    from saerl.launch.graph import Plan
    from saerl.launch.plan import describe
    from saerl.launch.sweep import check_distinct, read_sweep, sweep_graphs

    overrides, cluster, _ = cluster_args(args)
    is_sweep = False
    if target is not None and target.is_file():
        try:
            spec = _yaml.safe_load(target.read_text())
        except _yaml.YAMLError:
            spec = None  # load_experiment below names the file and the YAML error
        is_sweep = isinstance(spec, dict) and "grid" in spec
    if is_sweep:
        assert target is not None
        if cluster:
            cmd_status(target, args, title="plan")
            return
        graphs = sweep_graphs(read_sweep(target, overrides))
        check_distinct(graphs)
        title = f"sweep {graphs[0].cfg.name} ({target})"
    else:
        graphs = [StageGraph(load_experiment(target, overrides))]
        title = f"config {target or '(defaults)'}"
    plan = Plan.of([g.run for g in graphs])
    from saerl.launch.slurm import check_models, check_openrlhf_runs

    check_models(plan.nodes, "fix it before submitting")
    check_openrlhf_runs(plan.nodes, "fix it before submitting")
    profile = None
    if cluster:
        from saerl.launch.profiles import load_profile

        profile = load_profile(cluster)
    print(describe(plan, Path(graphs[0].cfg.store_dir), title, profile))


def cmd_sweep(sweep_file: Path, args: list[str]) -> None:
    """Submit a sweep to the cluster of CLUSTER=<profile> (DRY_RUN=1: write the sbatch scripts only)."""
    from saerl.launch.plan import describe
    from saerl.launch.profiles import load_profile
    from saerl.launch.slurm import SweepPlan, submit_sweep
    from saerl.launch.sweep import read_sweep

    overrides, cluster, dry = cluster_args(args)
    if not cluster:
        raise ValueError("sweep: name a cluster profile, e.g. CLUSTER=local-slurm (see slurm/*.yaml)")
    profile = load_profile(cluster)
    check_profile_here(profile, cluster)
    sp = SweepPlan.of(read_sweep(sweep_file, overrides))
    decisions = submit_sweep(sp, profile, dry_run=dry)
    jobs = {d.node.id: (d.job_id or "-", decision_text(d), "") for d in decisions}
    print(describe(sp.plan, sp.store_root, f"sweep {sp.name} on {cluster}", profile, jobs))
    n_new = sum(d.action in ("submitted", "dry-run") for d in decisions)
    where = f"; scripts in {sp.log_dir / 'dry-run'}" if dry else f"; logs in {sp.log_dir}"
    print(f"{'would submit' if dry else 'submitted'} {n_new} job(s){where}")


def check_profile_here(profile: ClusterProfile, name: str) -> None:
    """Where Slurm answers, the profile's node sizes against what sinfo reports."""
    from saerl.launch.profiles import check_against_cluster, nodes_of

    if profile.executor == "slurm" and (nodes := nodes_of(profile.partition)) is not None:
        check_against_cluster(profile, name, nodes)


def decision_text(d: Any) -> str:
    """What `make sweep` did with a node: 'running' / 'pending' (already queued: its Slurm state),
    'submitted (previous job 29 CANCELLED)', 'built', ..."""
    if d.action == "queued":
        return str(d.detail or "queued").lower()
    if d.action in ("submitted", "dry-run") and d.detail:
        return f"{d.action} ({d.detail})"
    return str(d.action)


def cmd_status(sweep_file: Path, args: list[str], title: str = "status") -> None:
    """Every node of a sweep: built/done in the store and run folders, its latest job and Slurm state,
    the log of each failure."""
    from saerl.launch.plan import describe
    from saerl.launch.profiles import load_profile
    from saerl.launch.slurm import SubmissionRecord, SweepPlan, job_states
    from saerl.launch.sweep import read_sweep

    overrides, cluster, _ = cluster_args(args)
    profile = load_profile(cluster) if cluster else None
    if profile is not None and title == "plan":
        check_profile_here(profile, cluster)
    sp = SweepPlan.of(read_sweep(sweep_file, overrides))
    if title == "plan":
        from saerl.launch.slurm import check_models, check_openrlhf_runs

        check_models(sp.plan.nodes, "fix it before submitting")
        check_openrlhf_runs(sp.plan.nodes, "fix it before submitting")
    latest = SubmissionRecord(sp.store_root).latest()
    states = job_states(s.job_id for s in latest.values())
    jobs = {i: (s.job_id, states.get(s.job_id, "UNKNOWN"), s.stderr) for i, s in latest.items()}
    print(describe(sp.plan, sp.store_root, f"{title}: sweep {sp.name}", profile, jobs))


def cmd_cancel(sweep_file: Path, args: list[str]) -> None:
    """Cancel the sweep's jobs that are still pending or running, except those another live sweep's
    jobs wait on (sweeps that share stages share their jobs)."""
    import subprocess

    from saerl.launch.slurm import (
        ACTIVE,
        SubmissionRecord,
        SweepPlan,
        job_states,
        pending_dependencies,
        split_cancel,
    )
    from saerl.launch.sweep import read_sweep

    overrides, _, _ = cluster_args(args)
    sp = SweepPlan.of(read_sweep(sweep_file, overrides))
    plan_ids = {n.id for n in sp.plan.nodes}
    latest = SubmissionRecord(sp.store_root).latest()
    states = job_states(s.job_id for s in latest.values())
    live = {s.job_id: s for s in latest.values() if states.get(s.job_id) in ACTIVE}
    mine = {j for j, s in live.items() if s.node_id in plan_ids}
    cancel, keep = split_cancel(mine, set(live) - mine, pending_dependencies())
    if cancel:
        subprocess.run(["scancel", *cancel], check=True)
    print(f"cancelled {len(cancel)} job(s): {' '.join(cancel) or '-'}")
    for job, needers in sorted(keep.items()):
        by = ", ".join(f"{n} ({live[n].sweep}: {live[n].label})" for n in needers[:4])
        more = f" and {len(needers) - 4} more" if len(needers) > 4 else ""
        print(f"kept {job} ({live[job].label}): other sweeps' jobs wait on it: {by}{more}")


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
    from analysis.sources import load_runs

    rs = load_runs(ns.runs, ns.source, ns.filter, ns.cache)
    report = write_report(
        rs,
        Path(ns.out),
        title=ns.title or f"saerl report: {ns.runs}",
        store_dir=Path(ns.store),
        signals_dir=Path(ns.signals),
        target_acc=ns.target_acc,
    )
    print(f"report: {report} ({len(rs.runs)} runs)")


STUDY_RUNS = (
    "runs/miniature",
    "runs/ablations",
    "runs/rho",
    "runs/coverage",
    "runs/coverage-target",
    "runs/demo",
)
"""`saerl paper`'s (and `make paper`'s) default: the study's sweeps (the SFT baseline joins
runs/miniature) and the demo."""


def cmd_paper(argv: list[str]) -> None:
    """Every table and figure of the study from logged runs (one report per sweep), no training."""
    from analysis.paper import write_paper

    p = argparse.ArgumentParser(prog="saerl paper", description=(cmd_paper.__doc__ or "").strip())
    p.add_argument(
        "runs", nargs="*", default=list(STUDY_RUNS),
        help="run folder trees or wandb:<entity>/<project> (default: the study's sweeps and the demo)",
    )  # fmt: skip
    p.add_argument("--out", default="reports/paper", help="output folder (default: reports/paper)")
    p.add_argument("--source", choices=["auto", "rundirs", "wandb-offline", "wandb-api"], default="auto")
    p.add_argument("--cache", default="reports/.wandb-cache", help="parquet cache of W&B API histories")
    p.add_argument("--store", default="artifacts", help="artifact store whose manifests give the cost table")
    p.add_argument("--signals", default="reports/signals", help="`saerl study-signals` output folder")
    ns = p.parse_args(argv)
    index = write_paper(ns.runs, Path(ns.out), Path(ns.store), Path(ns.signals), ns.source, ns.cache)
    print(index.read_text(), end="")


def cmd_ray_check(argv: list[str]) -> None:
    """Check Ray inside a multi-node Slurm job: one job of NODES nodes starts Ray on each, runs a
    task on every node through saerl's OpenRLHF driver, and reports nodes, worker hook and env."""
    from saerl.launch.profiles import load_profile
    from saerl.launch.ray_check import submit_check

    p = argparse.ArgumentParser(prog="saerl ray-check", description=(cmd_ray_check.__doc__ or "").strip())
    p.add_argument("settings", nargs="*", metavar="CLUSTER=<profile> [NODES=n]")
    p.add_argument("--out", default="runs/ray-check", help="folder for the job's logs and report")
    ns = p.parse_args(argv)
    settings = dict(a.partition("=")[::2] for a in ns.settings)
    unknown = sorted(set(settings) - {"CLUSTER", "NODES"})
    if unknown or "CLUSTER" not in settings:
        raise ValueError(f"ray-check: expected CLUSTER=<profile> [NODES=n], got {ns.settings}")
    profile = load_profile(settings["CLUSTER"])
    nodes = int(settings.get("NODES", profile.multi_gpu.nodes))
    report = submit_check(profile, nodes, Path(ns.out))
    workers = report.pop("workers")
    print(json.dumps(report))
    for w in workers:  # type: ignore[attr-defined]
        print(f"  node {w['node_id'][:12]} on {w['host']}: pid {w['pid']}, setup hook ran: {w['hook']}")
    ok = report["distinct_nodes"] == nodes and report["hook_in_every_worker"]
    if not ok:
        raise LookupError(
            f"ray-check: {report['distinct_nodes']} of {nodes} nodes answered, or a worker lacks the hook"
        )


def cmd_sync(sweep_file: Path, args: list[str]) -> None:
    """Upload the sweep's offline W&B runs (every attempt, once) from a node that reaches W&B."""
    from saerl.launch.sweep import config_for, read_sweep
    from saerl.launch.wandb_sync import sync_runs

    overrides, _, _ = cluster_args(args)
    sweep = read_sweep(sweep_file, overrides)
    cfg = config_for(sweep, sweep.points[0])
    for line in sync_runs(Path(cfg.runs_dir) / cfg.name, project=cfg.rl.wandb_project):
        print(line)


SWEEP_COMMANDS: dict[str, Callable[[Path, list[str]], None]] = {
    "sweep": cmd_sweep,
    "status": cmd_status,
    "cancel": cmd_cancel,
    "sync": cmd_sync,
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="saerl", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, fn in COMMANDS.items():
        p = sub.add_parser(name, help=(fn.__doc__ or "").strip().splitlines()[0])
        p.add_argument("args", nargs="*", metavar="[config.yaml] [key=value ...]")
    p = sub.add_parser("study", help=(cmd_study.__doc__ or "").splitlines()[0])
    p.add_argument("args", nargs="+", metavar="sweep.yaml [key=value ...]")
    p = sub.add_parser("plan", help=(cmd_plan.__doc__ or "").splitlines()[0])
    p.add_argument("args", nargs="*", metavar="[config.yaml | sweep.yaml] [key=value ...] [CLUSTER=profile]")
    p.add_argument(
        "--verify", action="store_true", help="hash every input file again instead of trusting the cache"
    )
    for name, sweep_fn in SWEEP_COMMANDS.items():
        p = sub.add_parser(name, help=(sweep_fn.__doc__ or "").splitlines()[0])
        p.add_argument("args", nargs="+", metavar="sweep.yaml [key=value ...] [CLUSTER=profile] [DRY_RUN=1]")
    p = sub.add_parser("paper", help=(cmd_paper.__doc__ or "").splitlines()[0], add_help=False)
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="[RUNS ...] [--out DIR]")
    p = sub.add_parser("ray-check", help=(cmd_ray_check.__doc__ or "").splitlines()[0], add_help=False)
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="CLUSTER=<profile> [NODES=n]")
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
    own_parser = {"report": cmd_report, "paper": cmd_paper, "ray-check": cmd_ray_check}
    if argv[:1] and argv[0] in own_parser:  # options such as --help go to them, not to saerl's
        try:
            own_parser[argv[0]](argv[1:])
        except (ValueError, FileNotFoundError, LookupError, RayClusterError) as exc:
            print(f"saerl {argv[0]}: error: {exc}", file=sys.stderr)
            return 2
        except Exception as exc:
            if (why := write_failure(exc)) is None:
                raise
            print(f"saerl {argv[0]}: error: {why}", file=sys.stderr)
            return 2
        return 0
    ns = parse_args(argv)
    where = ""  # the folders this command writes, once known (named when a write is refused)
    try:
        if ns.command == "study":
            cmd_study(Path(ns.args[0]), ns.args[1:])
            return 0
        if ns.command in SWEEP_COMMANDS:
            SWEEP_COMMANDS[ns.command](Path(ns.args[0]), ns.args[1:])
            return 0
        path, overrides = split_config_args(ns.args)
        if ns.command == "plan":
            if ns.verify:
                from saerl import fingerprint

                fingerprint.VERIFY = True
            cmd_plan(path, overrides)
            return 0
        cfg = load_experiment(path, overrides)
        where = f"{cfg.store_dir} (store) or {cfg.runs_dir} (runs)"
        executor = LocalExecutor(
            ArtifactStore(cfg.store_dir), cfg.device, [m.name for m in cfg.models.family]
        )
        COMMANDS[ns.command](cfg, StageGraph(cfg), executor)
    except (
        ConfigError,
        DataError,
        ModelError,
        RunConflict,
        ValueError,
        FileNotFoundError,
        LookupError,
    ) as exc:
        print(f"saerl {ns.command}: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if (why := write_failure(exc, where)) is None:
            raise
        kept = "nothing was published (the store keeps whole artifacts only)"
        print(f"saerl {ns.command}: error: {why}; {kept}", file=sys.stderr)
        return 2
    return 0


DISK_ERRNOS = {"ENOSPC", "EROFS", "EDQUOT", "EFBIG", "EACCES", "EPERM", "EIO"}


def write_failure(exc: BaseException, where: str = "") -> str | None:
    """One line for a write the file system refused (full disk, quota, read-only store, a file too
    large), from an OSError or from the error safetensors raises for the same causes; None for any
    other exception (a bug: its traceback is shown)."""
    import errno

    if isinstance(exc, OSError) and errno.errorcode.get(exc.errno or 0) in DISK_ERRNOS:
        target = exc.filename or (f"under {where}" if where else "")
        what = f"could not write {target}".rstrip()
        return f"{what}: {exc.strerror or exc} [{errno.errorcode[exc.errno or 0]}]"
    if type(exc).__name__ == "SafetensorError":  # Rust's io::Error, as text
        text = str(exc)
        for cause in (
            "No space left on device",
            "Read-only file system",
            "Disk quota exceeded",
            "File too large",
        ):
            if cause in text:
                return f"could not write model weights{' under ' + where if where else ''}: {cause}"
    return None


if __name__ == "__main__":
    sys.exit(main())
