"""The curriculum stage: signals -> one ordered parquet file the RL trainer consumes as is.

Rows are in training order (batch, position) and carry the prompt, answer, cluster, predicted
difficulty and quality; the resolved curriculum config is stored in the file's metadata. Per-batch
statistics (clusters per batch, mean difficulty) go to batches.json.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from saerl.config import SaerlConfig, to_dict
from saerl.curriculum import Curriculum, Signals, build_curriculum
from saerl.data.records import Record
from saerl.data.stage import data_stage, load_split
from saerl.store import Artifact, ArtifactStore, BuildContext

VERSION = "1"
FILE = "curriculum.parquet"
CONFIG_KEY = b"saerl.curriculum"


def signals_for(cfg: SaerlConfig, store: ArtifactStore, records: list[Record]) -> tuple[Signals, list[str]]:
    """The curriculum's inputs. Vanilla needs no model signals, so it never builds them."""
    ids = [r.id for r in records]
    length = np.array([len(r.prompt) for r in records])
    if cfg.curriculum.mode == "vanilla":
        zeros = np.zeros(len(records))
        return Signals(ids, zeros.astype(int), zeros, zeros, length), []
    from saerl.signals.stage import as_array, read_signals, signals_stage

    art = signals_stage(cfg, store)
    rows = read_signals(art)
    if [r["id"] for r in rows] != ids:
        raise ValueError(f"{art.path}: signals are not aligned with the train split; rebuild signals")
    rollout = as_array(rows, "rollout_difficulty")
    return Signals(
        ids,
        as_array(rows, "cluster").astype(int),
        as_array(rows, "difficulty"),
        as_array(rows, "quality"),
        length,
        rollout if cfg.curriculum.mode == "rollout" else None,
    ), [art.key]


def write_curriculum(path: Path, cur: Curriculum, sig: Signals, records: list[Record], config: dict) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    o = cur.order
    table = pa.table(
        {
            "batch": cur.batch.astype(np.int32),
            "position": cur.position.astype(np.int32),
            "id": [records[i].id for i in o],
            "prompt": [records[i].prompt for i in o],
            "answer": [records[i].answer for i in o],
            "cluster": sig.cluster[o].astype(np.int32),
            "difficulty": sig.difficulty[o].astype(float),
            "quality": sig.quality[o].astype(float),
            "remainder": cur.remainder,
        }
    )
    table = table.replace_schema_metadata({CONFIG_KEY: json.dumps(config, sort_keys=True).encode()})
    pq.write_table(table, path)


def batch_stats(cur: Curriculum, sig: Signals) -> list[dict[str, Any]]:
    out = []
    for t in range(cur.n_batches):
        rows = cur.order[cur.batch == t]
        out.append(
            {
                "batch": t,
                "size": len(rows),
                "clusters": len(set(sig.cluster[rows].tolist())),
                "mean_difficulty": float(sig.difficulty[rows].mean()),
                "mean_quality": float(sig.quality[rows].mean()),
                "remainder": bool(cur.remainder[cur.batch == t].any()),
            }
        )
    return out


def curriculum_stage(cfg: SaerlConfig, store: ArtifactStore) -> Artifact:
    data = data_stage(cfg, store)
    records = load_split(data, "train")
    sig, signal_keys = signals_for(cfg, store, records)

    def build(ctx: BuildContext) -> None:
        cur = build_curriculum(sig, cfg.curriculum)
        write_curriculum(ctx.path / FILE, cur, sig, records, to_dict(cfg.curriculum))
        stats = batch_stats(cur, sig)
        (ctx.path / "batches.json").write_text(json.dumps(stats, indent=1))
        (ctx.path / "dropped.json").write_text(json.dumps([records[i].id for i in cur.dropped]))
        ctx.info.update(
            mode=cfg.curriculum.mode,
            rows=len(cur.order),
            batches=cur.n_batches,
            dropped=len(cur.dropped),
            mean_clusters_per_batch=float(np.mean([s["clusters"] for s in stats])),
        )

    return store.get_or_build(
        "curriculum", VERSION, to_dict(cfg.curriculum), build, inputs=[data.key, *signal_keys]
    )


def read_curriculum(path: Path) -> tuple[Any, dict[str, Any]]:
    """(pyarrow table in training order, the curriculum config it was built with)."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    return table, json.loads(table.schema.metadata[CONFIG_KEY])
