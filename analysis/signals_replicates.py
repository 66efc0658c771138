"""The difficulty proxy and the quality probe across a sweep's replicates: each SAERL run's curriculum
names its signals artifact, whose metrics.json holds that build's Spearman correlations (in and out
of distribution, for the SAE proxy and its baselines) and quality AUCs. Across replicates (each
re-draws the label subset, the SAE and the probes) this gives the mean with a Student t interval.

    python -m analysis.signals_replicates runs/paired [--store artifacts]
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from analysis.paired import t_interval


def signals_metrics(runs_dir: Path, store: Path, method: str = "saerl") -> dict[str, dict[str, Any]]:
    """Run name -> the metrics.json of the signals artifact its curriculum was built from."""
    out = {}
    for run in sorted(runs_dir.glob(f"*-{method}-*")):
        status = run / "status.json"
        if not status.is_file():
            continue
        curriculum = json.loads(status.read_text()).get("curriculum")
        manifest = Path(curriculum or "") / "manifest.json"
        if not manifest.is_file():
            continue
        for key in json.loads(manifest.read_text())["inputs"]:
            metrics = store / "signals" / key / "metrics.json"
            if metrics.is_file():
                out[run.name] = json.loads(metrics.read_text())
    return out


def table(builds: Sequence[dict[str, Any]]) -> list[tuple[str, str, int, float, float | None, float | None]]:
    """(measure, predictor, n, mean, low, high) for every Spearman and quality AUC the builds share."""
    rows = []
    for where in ("in_distribution", "out_of_distribution"):
        names = sorted(set.intersection(*(set(b["difficulty"].get(where, {})) for b in builds)))
        for name in names:
            xs = [float(b["difficulty"][where][name]["spearman"]) for b in builds]
            mean, low, high = t_interval(xs)
            rows.append(
                (f"difficulty Spearman, {where.replace('_', ' ')}", name, len(xs), mean or 0.0, low, high)
            )
    for name in sorted(set.intersection(*(set(b["quality"]) for b in builds))):
        if all(isinstance(b["quality"][name], dict) and "auc" in b["quality"][name] for b in builds):
            xs = [float(b["quality"][name]["auc"]) for b in builds]
            mean, low, high = t_interval(xs)
            rows.append(("quality AUC", name, len(xs), mean or 0.0, low, high))
    return rows


def _fmt(x: float | None) -> str:
    return "-" if x is None or math.isnan(x) else f"{x:+.3f}"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m analysis.signals_replicates", description=__doc__.splitlines()[0]
    )
    p.add_argument("runs", type=Path, help="a sweep's run folders, e.g. runs/paired")
    p.add_argument(
        "--store", type=Path, default=Path("artifacts"), help="the artifact store (default: artifacts)"
    )
    ns = p.parse_args(argv)
    found = signals_metrics(ns.runs, ns.store)
    if not found:
        print(f"{ns.runs}: no SAERL run whose curriculum names a signals artifact in {ns.store}")
        return 1
    print(f"{len(found)} signals builds ({', '.join(found)})")
    print("| measure | predictor | builds | mean | 95% t interval |\n|---|---|---|---|---|")
    for measure, name, n, mean, low, high in table(list(found.values())):
        print(f"| {measure} | {name} | {n} | {_fmt(mean)} | [{_fmt(low)}, {_fmt(high)}] |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
