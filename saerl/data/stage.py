"""The data stage: records for every split, as a store artifact (one jsonl per split)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from saerl.data import arith
from saerl.data.config import DataConfig
from saerl.data.loaders import load_records
from saerl.data.records import DataError, Record, read_records, write_records
from saerl.store import Artifact, BuildContext

VERSION = "2"  # bump when the records a config produces change (2: computation, seen_computation)


def build_data(ctx: BuildContext, params: dict[str, Any], inputs: dict[str, Artifact], device: str) -> None:
    """Generate (source 'arith') or load the records of ``params['data']``."""
    cfg: DataConfig = params["data"]
    if cfg.source == "arith":
        splits = arith.generate(cfg.arith)
        ctx.info["counts"] = {k: {n: dict(c) for n, c in v.items()} for k, v in arith.counts(splits).items()}
    else:
        records, report = load_records(cfg)
        if not records:
            raise DataError(f"{cfg.source}: no usable rows\n{report.summary()}")
        splits = {"train": records}
        ctx.info["load_report"] = {
            "rows": report.rows,
            "kept": report.kept,
            "skipped": dict(report.skipped),
            "examples": report.examples,
        }
        print(report.summary())
    for split, recs in splits.items():
        write_records(ctx.path / f"{split}.jsonl", recs)
    ctx.info["sizes"] = {split: len(recs) for split, recs in splits.items()}
    (ctx.path / "splits.json").write_text(json.dumps(sorted(splits)))


def split_path(data: Artifact, split: str) -> Path:
    path = data.path / f"{split}.jsonl"
    if not path.exists():
        have = json.loads((data.path / "splits.json").read_text())
        raise DataError(f"{data.path}: no split {split!r}; it has {have}")
    return path


def load_split(data: Artifact, split: str) -> list[Record]:
    return read_records(split_path(data, split))
