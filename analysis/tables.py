"""Tables for reports: one DataFrame, written as markdown (for report.md) and LaTeX (for the paper)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd


def pct(value: Any, sd: Any = None) -> str:
    """Accuracy in points: '57.3' or '57.3 ± 1.2'; '-' when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    text = f"{100 * value:.1f}"
    if sd is not None and not (isinstance(sd, float) and math.isnan(sd)):
        text += f" ± {100 * sd:.1f}"
    return text


def to_markdown(df: pd.DataFrame) -> str:
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join("-" if v is None else str(v) for v in row) + " |")
    return "\n".join(lines)


def _latex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#")):
        text = text.replace(a, b)
    return text.replace("±", r"$\pm$")


def to_latex(df: pd.DataFrame, caption: str, label: str) -> str:
    cols = [_latex_escape(str(c)) for c in df.columns]
    body = [
        " & ".join(_latex_escape("-" if v is None else str(v)) for v in row) + r" \\"
        for row in df.itertuples(index=False)
    ]
    return "\n".join(
        [
            r"\begin{table}[t]",
            r"\centering",
            rf"\caption{{{_latex_escape(caption)}}}",
            rf"\label{{tab:{label}}}",
            r"\begin{tabular}{" + "l" * len(cols) + "}",
            r"\toprule",
            " & ".join(cols) + r" \\",
            r"\midrule",
            *body,
            r"\bottomrule",
            r"\end{tabular}",
            r"\end{table}",
            "",
        ]
    )


def write(df: pd.DataFrame, out: Path, name: str, caption: str) -> str:
    """Write tables/<name>.md and tables/<name>.tex; returns the markdown."""
    folder = out / "tables"
    folder.mkdir(parents=True, exist_ok=True)
    md = to_markdown(df)
    (folder / f"{name}.md").write_text(f"{caption}\n\n{md}\n")
    (folder / f"{name}.tex").write_text(to_latex(df, caption, name))
    return md
