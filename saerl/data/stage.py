"""The data stage: records for every split, as a store artifact (one jsonl per split)."""

from __future__ import annotations

import json
from pathlib import Path

from saerl.config import SaerlConfig, to_dict
from saerl.data import arith
from saerl.data.loaders import load_records
from saerl.data.records import DataError, Record, read_records, write_records
from saerl.store import Artifact, ArtifactStore, BuildContext

VERSION = "1"  # bump when the records a config produces change


def data_stage(cfg: SaerlConfig, store: ArtifactStore) -> Artifact:
    """Generate (source 'arith') or load the records; reuses the artifact when it exists."""

    def build(ctx: BuildContext) -> None:
        if cfg.data.source == "arith":
            splits = arith.generate(cfg.data.arith)
            ctx.info["counts"] = {
                k: {n: dict(c) for n, c in v.items()} for k, v in arith.counts(splits).items()
            }
        else:
            records, report = load_records(cfg.data)
            if not records:
                raise DataError(f"{cfg.data.source}: no usable rows\n{report.summary()}")
            splits = {"train": records}
            ctx.info["load_report"] = {
                "rows": report.rows,
                "kept": report.kept,
                "skipped": dict(report.skipped),
                "examples": report.examples,
            }
            print(report.summary())
        for split, records in splits.items():
            write_records(ctx.path / f"{split}.jsonl", records)
        ctx.info["sizes"] = {split: len(recs) for split, recs in splits.items()}
        (ctx.path / "splits.json").write_text(json.dumps(sorted(splits)))

    return store.get_or_build("data", VERSION, to_dict(cfg.data), build)


def split_path(data: Artifact, split: str) -> Path:
    path = data.path / f"{split}.jsonl"
    if not path.exists():
        have = json.loads((data.path / "splits.json").read_text())
        raise DataError(f"{data.path}: no split {split!r}; it has {have}")
    return path


def load_split(data: Artifact, split: str) -> list[Record]:
    return read_records(split_path(data, split))
