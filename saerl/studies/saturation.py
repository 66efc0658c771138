"""How far SFT takes each miniature target: greedy accuracy on the validation split along one long
SFT schedule, to choose a warm-start at which more SFT no longer helps (RL is then compared with
what it adds, not with under-trained SFT; analysis/LOG.md, the same-compute SFT baseline).

    python -m saerl.studies.saturation --targets qwen2-s llama-s --steps 3000 --every 250

The data and tokenizer are the configured miniature's (built or reused through the store); each
target starts from the same random init as the models stage (`models.sft.seed`) and trains with
`models.sft`'s settings except the number of steps; accuracy is measured on the `val` split, never
on the reported eval sets. Writes reports/sft_saturation.{json,md}.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from saerl.bench.writer import write_bench


def sft_curve(
    spec: Any,
    tok: Any,
    sft_records: Sequence[Any],
    val_records: Sequence[Any],
    grader: Any,
    cfg: Any,
    every: int,
) -> list[dict[str, Any]]:
    """[{step, accuracy, sft_seconds}] every ``every`` steps of one ``cfg.steps``-step SFT run."""
    from saerl.models.generation import greedy_accuracy
    from saerl.models.sft import run_sft
    from saerl.models.tiny import build_model

    model = build_model(spec, tok, seed=cfg.seed)
    points: list[dict[str, Any]] = []
    start, evaluating = time.perf_counter(), 0.0

    def evaluate(step: int) -> None:
        nonlocal evaluating
        if step % every and step != cfg.steps:
            return
        t = time.perf_counter()
        model.eval()
        acc = greedy_accuracy(model, tok, list(val_records), grader, cfg.max_new_tokens)
        evaluating += time.perf_counter() - t
        points.append(
            {"step": step, "accuracy": acc, "sft_seconds": round(time.perf_counter() - start - evaluating, 1)}
        )

    run_sft(model, tok, sft_records, cfg, desc=f"sft {spec.name}", on_step=evaluate)
    return points


def saturation_step(points: Sequence[dict[str, Any]], tolerance: float) -> int:
    """The first step whose accuracy is within ``tolerance`` of the best accuracy of the run."""
    best = max(p["accuracy"] for p in points)
    return next(p["step"] for p in points if p["accuracy"] >= best - tolerance)


def run(
    targets: Sequence[str], steps: int, every: int, overrides: Sequence[str] = (), tolerance: float = 0.02
) -> dict[str, Any]:
    from saerl.config import load_experiment
    from saerl.data.grading import get_grader, resolve_grader_kind
    from saerl.data.stage import load_split
    from saerl.launch.local import build
    from saerl.models.loading import load_tokenizer
    from saerl.store import ArtifactStore

    cfg = load_experiment(overrides=list(overrides))
    specs = {m.name: m for m in cfg.models.family}
    unknown = sorted(set(targets) - set(specs))
    if unknown:
        raise ValueError(f"targets: {unknown} are not in models.family ({sorted(specs)})")
    store = ArtifactStore(cfg.store_dir)
    data = build(cfg, store, "data")
    tok = load_tokenizer(build(cfg, store, "tokenizer").path)
    sft_records, val = load_split(data, "sft"), load_split(data, "val")
    grader = get_grader(resolve_grader_kind(cfg.data.grader, cfg.data.source))
    sft_cfg = replace(cfg.models.sft, steps=steps)
    out: dict[str, Any] = {"steps": steps, "every": every, "tolerance": tolerance, "val_items": len(val)}
    out["default_steps"] = cfg.models.sft.steps
    out["targets"] = {}
    for name in targets:
        points = sft_curve(specs[name], tok, sft_records, val, grader, sft_cfg, every)
        out["targets"][name] = {"curve": points, "saturation_step": saturation_step(points, tolerance)}
    return out


def markdown(results: dict[str, Any]) -> str:
    targets = results["targets"]
    steps = [p["step"] for p in next(iter(targets.values()))["curve"]]
    lines = [
        "# SFT saturation of the miniature's targets",
        "",
        f"Greedy accuracy (%) on the validation split ({results['val_items']} items) along one "
        f"{results['steps']}-step SFT schedule (cosine); the models stage's default is "
        f"{results['default_steps']} steps.",
        "",
        "| step | " + " | ".join(targets) + " |",
        "|---|" + "---|" * len(targets),
    ]
    for i, step in enumerate(steps):
        row = [f"{100 * t['curve'][i]['accuracy']:.1f}" for t in targets.values()]
        lines.append(f"| {step} | " + " | ".join(row) + " |")
    lines += [
        "",
        "Saturation (first step within "
        f"{100 * results['tolerance']:.0f} points of the run's best): "
        + ", ".join(f"{n} at {t['saturation_step']}" for n, t in targets.items())
        + ".",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", nargs="+", default=["qwen2-s", "llama-s"])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--every", type=int, default=250)
    parser.add_argument("--tolerance", type=float, default=0.02)
    parser.add_argument("--out", type=Path, default=Path("reports"))
    parser.add_argument("overrides", nargs="*", help="config overrides, key=value")
    args = parser.parse_args()
    results = run(args.targets, args.steps, args.every, args.overrides, args.tolerance)
    write_bench(args.out, "sft_saturation", results, markdown(results))


if __name__ == "__main__":
    main()
