"""What the curriculum's SAE signals mean, for the report: the clusters of the kept prompts (topics,
defining latents, a central prompt), the difficulty proxy's strongest latents, what the quality
filter dropped, and what coverage selection took from each cluster. Read from the interpret.json
that the curriculum stage writes beside a SAERL (or coverage) curriculum."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import tables
from analysis.tidy import RunSet


def interpretation(ok: RunSet, method: str = "saerl") -> tuple[Path, dict[str, Any]] | None:
    """The interpret.json of the first ``method`` run's curriculum (run folders record it in
    status.json), or None (other sources, or curricula without SAE features)."""

    runs = ok.runs.sort_values("run")
    for origin in runs.loc[runs["method"].astype(str).str.startswith(method), "origin"]:
        status = Path(str(origin)) / "status.json"
        if not status.is_file():
            continue
        cur = json.loads(status.read_text()).get("curriculum")
        found = Path(cur) / "interpret.json" if cur else None
        if found is not None and found.is_file():
            return found, json.loads(found.read_text())
    return None


def _short(text: str, n: int = 70) -> str:
    text = " ".join(str(text).split()).replace("|", "/")
    return text if len(text) <= n else text[: n - 1] + "…"


def sections(ok: RunSet, out: Path) -> list[str]:
    """The SAERL curriculum's clusters, difficulty latents and quality filter, and what coverage
    selection took, from the first such run's curriculum (empty where none recorded them)."""
    found = interpretation(ok)
    md = [] if found is None else _saerl_interpretation(out, *found)
    return md + _coverage_interpretation(ok, out)


def _coverage_interpretation(ok: RunSet, out: Path) -> list[str]:
    """Which SAE clusters coverage selection took (the first coverage run's curriculum)."""
    found = interpretation(ok, "coverage")
    if found is None or not found[1].get("coverage"):
        return []
    path, info = found
    rows = [
        {
            "cluster": c["cluster"],
            "size": c["size"],
            "selected": c["selected"],
            "share": f"{c['selected_share']:.0%}",
            "learnability (selected)": "-"
            if c["selected_learnability"] is None
            else f"{c['selected_learnability']:.3f}",
            "learnability (left)": "-" if c["left_learnability"] is None else f"{c['left_learnability']:.3f}",
            "topics selected": ", ".join(f"{t} {share:.0%}" for t, share in c["selected_topics"]),
        }
        for c in info["coverage"]
    ]
    caption = "Coverage selection: what it took from each SAE cluster"
    return [
        "## Coverage selection",
        "",
        f"From `{path}` (the curriculum of the first coverage run). Learnability is 4p(1-p) of the pass "
        "rate p (rollout labels where present, the difficulty proxy elsewhere).",
        "",
        tables.write(pd.DataFrame(rows), out, "coverage", caption),
    ]


def _saerl_interpretation(out: Path, path: Path, info: dict[str, Any]) -> list[str]:
    md = ["## Interpretable signals", "", f"From `{path}` (the curriculum of the first SAERL run)."]
    clusters = pd.DataFrame(
        [
            {
                "cluster": c["cluster"],
                "size": c["size"],
                "topics": ", ".join(f"{t} {share:.0%}" for t, share in c["topics"]),
                "mean predicted difficulty": round(c["mean_difficulty"], 3),
                "defining latents (lift)": ", ".join(f"#{j} ({v:+.3g})" for j, v in c["defining_latents"]),
                "central prompt": _short(c["central_prompts"][0]) if c["central_prompts"] else "",
            }
            for c in info["clusters"]
        ]
    )
    md += ["", tables.write(clusters, out, "clusters", "SAE clusters of the kept prompts")]
    if info.get("difficulty_latents"):
        rows = [
            {
                "direction": "harder" if sign == "positive" else "easier",
                "latent": f"#{e['latent']}",
                "weight": f"{e['weight']:+.3g}",
                "fires on": f"{e['fires_on']:.1%}",
                "top prompts' predicted difficulty": (
                    f"{e['top_mean_difficulty']:.3f}" if e["top_mean_difficulty"] is not None else "-"
                ),
                "most activating prompt": _short(e["top_prompts"][0]) if e["top_prompts"] else "",
            }
            for sign in ("positive", "negative")
            for e in info["difficulty_latents"][sign][:5]
        ]
        caption = "The difficulty proxy's strongest latents"
        md += ["", tables.write(pd.DataFrame(rows), out, "difficulty_latents", caption)]
    if info.get("quality_filter"):
        rows = [
            {"noise": kind, "dropped": v["dropped"], "kept": v["kept"],
             "dropped share": f"{v['dropped'] / max(1, v['dropped'] + v['kept']):.0%}"}
            for kind, v in info["quality_filter"].items()
        ]  # fmt: skip
        md += [
            "",
            tables.write(pd.DataFrame(rows), out, "quality_filter", "What the quality filter dropped"),
        ]
    return md
