"""The tidy table every run source produces and every report consumes.

One row per (run, step, metric): run, sweep, source_model, target_model, family, scale, method, rho,
seed, step, metric, value. Beside it, one row per run with its state (done, failed, running, ...)
so a report can list what is missing instead of silently averaging it away.

Sources differ in how they store the same numbers (metrics.jsonl writes one row per log call, W&B
merges the calls of one step into one history row; OpenRLHF names its keys differently), so
`build` normalises: metric names are mapped to saerl's, W&B's internal keys (`_step`, `_runtime`,
...) are dropped, and when a (run, step, metric) appears more than once the last value wins, which
is what W&B itself keeps.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

CONDITION = ("sweep", "source_model", "target_model", "family", "scale", "method", "rho", "seed", "replicate")
COLUMNS = ("run", *CONDITION, "step", "metric", "value")
READ_KEYS = (*CONDITION, "variant")
"""What sources read of a run's condition: the columns, and the variant folded into the method."""
RUN_COLUMNS = ("run", *CONDITION, "state", "origin")
STATES = ("done", "failed", "running", "unknown")

ACCURACY = "eval/average"
"""The headline metric: mean greedy accuracy over the eval sets."""

# OpenRLHF 0.11.2 (read from its source: utils/logging_utils.py WandbLogger, trainer/ppo_trainer.py
# train_step and compute_eval_metrics) logs "train/<key>" with "train/global_step" and
# "eval/<key>" with "eval/global_step"; its per-datasource score is eval/eval_<datasource>_pass1
# (the mean reward over the datasource's prompts; greedy with one sample, as saerl renders it).
OPENRLHF_KEYS = {
    "train/policy_loss": "train/loss",
    "train/rollout/reward_mean": "train/reward",
    "train/rollout/response_length_mean": "train/completions/mean_length",
    "train/kl": "train/kl",
}
STEP_KEYS = ("step", "train/global_step", "eval/global_step", "_step")
_PASS1 = re.compile(r"eval/eval_(?P<name>.+)_pass1")
_EVAL_SET = re.compile(r"eval/(?P<name>[^/]+)/accuracy")


def canonical_metric(key: str) -> str:
    """saerl's name for a logged key (saerl's own keys pass through)."""
    if key in OPENRLHF_KEYS:
        return OPENRLHF_KEYS[key]
    m = _PASS1.fullmatch(key)
    return f"eval/{m['name']}/accuracy" if m else key


def eval_sets(metrics: Iterable[str]) -> list[str]:
    """The eval set names present among ``metrics`` (pooled accuracies excluded), sorted."""
    names = {m["name"] for k in metrics if (m := _EVAL_SET.fullmatch(k))}
    return sorted(names - {"pooled"})


@dataclass(frozen=True)
class RunLog:
    """One run as a source hands it over: its condition, state and logged rows (in log order)."""

    run: str
    condition: Mapping[str, Any]
    state: str
    origin: str
    rows: Iterable[Mapping[str, Any]]


@dataclass(frozen=True)
class RunSet:
    table: pd.DataFrame
    """The tidy table (COLUMNS), sorted by run, step, metric."""
    runs: pd.DataFrame
    """One row per run (RUN_COLUMNS), sorted by run."""

    def metric(self, name: str) -> pd.DataFrame:
        return self.table[self.table["metric"] == name]

    def only(self, runs: Iterable[str]) -> RunSet:
        """The same tables restricted to ``runs``."""
        keep = set(runs)
        return RunSet(self.table[self.table["run"].isin(keep)], self.runs[self.runs["run"].isin(keep)])

    def done(self) -> RunSet:
        """Only the runs that finished (the rest belong in a report's list of incomplete runs)."""
        return self.only(self.runs.loc[self.runs["state"] == "done", "run"])


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _step(row: Mapping[str, Any]) -> int | None:
    for key in STEP_KEYS:
        if _number(row.get(key)) is not None:
            return int(row[key])
    return None


def condition_of(config: Mapping[str, Any], group: str | None = None) -> dict[str, Any]:
    """The condition keys from a run's config (saerl writes them flat into W&B's config)."""
    cond = {k: config.get(k) for k in READ_KEYS}
    if cond["sweep"] is None:
        cond["sweep"] = group
    return cond


def method_label(condition: Mapping[str, Any]) -> Any:
    """The method, with the run's variant (other swept keys) when it has one: 'vanilla [lr=2e-05]'.
    Runs that differ in a swept knob are never averaged together as seeds."""
    method, variant = condition.get("method"), condition.get("variant")
    return f"{method} [{variant}]" if variant else method


def build(logs: Iterable[RunLog]) -> RunSet:
    records: list[tuple[Any, ...]] = []
    runs: list[tuple[Any, ...]] = []
    for log in logs:
        labelled = {**log.condition, "method": method_label(log.condition)}
        cond = tuple(labelled.get(k) for k in CONDITION)
        runs.append((log.run, *cond, log.state if log.state in STATES else "unknown", log.origin))
        for row in log.rows:
            step = _step(row)
            if step is None:
                continue
            for key, raw in row.items():
                value = _number(raw)
                if key in STEP_KEYS or key.startswith("_") or value is None or math.isnan(value):
                    continue
                records.append((log.run, *cond, step, canonical_metric(key), value))
    table = pd.DataFrame.from_records(records, columns=list(COLUMNS))
    table = table.drop_duplicates(["run", "step", "metric"], keep="last")
    table = _with_average(table)
    table = table.sort_values(["run", "step", "metric"], kind="stable").reset_index(drop=True)
    run_table = pd.DataFrame.from_records(runs, columns=list(RUN_COLUMNS))
    if run_table["run"].duplicated().any():
        dup = sorted(set(run_table.loc[run_table["run"].duplicated(), "run"]))
        raise ValueError(f"runs: the same run name appears twice: {dup}")
    return RunSet(_typed(table), _typed(run_table.sort_values("run").reset_index(drop=True)))


def _with_average(table: pd.DataFrame) -> pd.DataFrame:
    """Add eval/average where a source logged per-set accuracies but no average (OpenRLHF)."""
    per_set = table[
        table["metric"].isin([f"eval/{name}/accuracy" for name in eval_sets(table["metric"].unique())])
    ]
    have = set(zip(*[table.loc[table["metric"] == ACCURACY, c] for c in ("run", "step")], strict=True))
    extra = []
    for (run, step), grp in per_set.groupby(["run", "step"], sort=False):
        if (run, step) not in have:
            row = grp.iloc[0].copy()
            row["metric"], row["value"] = ACCURACY, float(grp["value"].mean())
            extra.append(row)
    return pd.concat([table, pd.DataFrame(extra)], ignore_index=True) if extra else table


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """Stable dtypes so tables from different sources compare equal."""
    df = df.copy()
    for col in (
        "run",
        "sweep",
        "source_model",
        "target_model",
        "family",
        "method",
        "metric",
        "state",
        "origin",
    ):
        if col in df:
            df[col] = df[col].astype("object").where(df[col].notna(), None)
    for col, kind in (
        ("scale", "float64"),
        ("rho", "float64"),
        ("seed", "Int64"),
        ("replicate", "Int64"),
        ("step", "int64"),
        ("value", "float64"),
    ):
        if col in df:
            df[col] = pd.to_numeric(df[col]).astype(kind)  # type: ignore[call-overload]
    return df
