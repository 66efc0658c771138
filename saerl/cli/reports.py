"""The commands with their own option parsers: `saerl report`, `saerl paper`, `saerl ray-check`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from analysis.sources import SOURCES


def cmd_report(argv: list[str]) -> None:
    """Tables and figures from runs: a run folder tree, offline W&B files, or a W&B project."""
    from analysis.report import write_report

    p = argparse.ArgumentParser(prog="saerl report", description=(cmd_report.__doc__ or "").strip())
    p.add_argument("runs", help="a folder of run folders (runs/<sweep>), or wandb:<entity>/<project>")
    p.add_argument("--out", default="reports/latest", help="output folder (default: reports/latest)")
    p.add_argument("--source", choices=list(SOURCES), default="auto",
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


RESULTS = "analysis/results"
"""`saerl paper`'s (and `make paper`'s) default: the study's committed results (runs.csv and
metrics.csv, written by `saerl paper <run folders> --export analysis/results`)."""


def cmd_paper(argv: list[str]) -> None:
    """Every table and figure of the study from logged runs (one report per sweep), no training."""
    from analysis.paper import write_paper

    p = argparse.ArgumentParser(prog="saerl paper", description=(cmd_paper.__doc__ or "").strip())
    p.add_argument(
        "runs", nargs="*", default=[RESULTS],
        help=f"run folder trees, committed results or wandb:<entity>/<project> (default: {RESULTS})",
    )  # fmt: skip
    p.add_argument("--out", default="reports/paper", help="output folder (default: reports/paper)")
    p.add_argument("--source", choices=list(SOURCES), default="auto")
    p.add_argument("--cache", default="reports/.wandb-cache", help="parquet cache of W&B API histories")
    p.add_argument("--store", default="artifacts", help="artifact store whose manifests give the cost table")
    p.add_argument("--signals", default="reports/signals", help="`saerl study-signals` output folder")
    p.add_argument("--export", default=None, metavar="DIR",
                   help="also write the runs' tidy results (runs.csv, metrics.csv) into DIR")  # fmt: skip
    p.add_argument("--readme", default=None, metavar="FILE",
                   help="rewrite the results table between FILE's results markers (README.md)")  # fmt: skip
    ns = p.parse_args(argv)
    index = write_paper(
        ns.runs, Path(ns.out), Path(ns.store), Path(ns.signals), ns.source, ns.cache,
        export=Path(ns.export) if ns.export else None, readme=Path(ns.readme) if ns.readme else None,
    )  # fmt: skip
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
