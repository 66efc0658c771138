"""The curriculum stage: signals -> one ordered parquet file the RL trainer consumes as is.

Rows are in training order (batch, position) and carry the prompt, answer, cluster, predicted
difficulty and quality; the resolved curriculum config is stored in the file's metadata. Per-batch
statistics (clusters per batch, mean difficulty) go to batches.json.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from saerl.configlib import to_dict
from saerl.curriculum.config import CurriculumConfig
from saerl.curriculum.order import Curriculum, Signals, build_curriculum
from saerl.data.records import Record
from saerl.data.stage import load_split
from saerl.store import Artifact, BuildContext

VERSION = "7"  # 7: budgets in whole batches, mixing across clusters (6: coverage; 5: interpret.json)
FILE = "curriculum.parquet"
CONFIG_KEY = b"saerl.curriculum"


def signals_for(cfg: CurriculumConfig, records: list[Record], signals: Artifact | None) -> Signals:
    """The curriculum's inputs. Vanilla needs no model signals (the graph gives it none)."""
    ids = [r.id for r in records]
    length = np.array([len(r.prompt) for r in records])
    if signals is None:
        if cfg.mode != "vanilla":
            raise ValueError(f"curriculum mode {cfg.mode!r} needs the signals stage as an input")
        zeros = np.zeros(len(records))
        return Signals(ids, zeros.astype(int), zeros, zeros, length)
    from saerl.signals.stage import as_array, read_signals

    rows = read_signals(signals)
    if [r["id"] for r in rows] != ids:
        raise ValueError(f"{signals.path}: signals are not aligned with the train split; rebuild signals")
    rollout = as_array(rows, "rollout_difficulty")
    return Signals(
        ids,
        as_array(rows, "cluster").astype(int),
        as_array(rows, "difficulty"),
        as_array(rows, "quality"),
        length,
        rollout if cfg.mode in ("rollout", "coverage") else None,
    )


def train_features(inputs: dict[str, Artifact], records: list[Record]) -> Any:
    """The train split's pooled SAE features z, or None when the graph gave none (vanilla, no_cluster)."""
    if "features" not in inputs:
        return None
    from saerl.sae.features import load_features

    feats = load_features(inputs["features"].path, "train")
    if feats.ids != [r.id for r in records]:
        raise ValueError(f"{inputs['features'].path}: features are not aligned with the train split")
    return feats.z


def kept_clusterer(z: Any, diversity: Any) -> Callable[[np.ndarray], np.ndarray] | None:
    """k-means on the pooled SAE features of the prompts the quality filter kept (the method clusters
    after filtering), or None without features."""
    if z is None:
        return None
    from saerl.signals.diversity import cluster

    return lambda kept: cluster(z[kept], diversity)


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
            "cluster": cur.clusters[o].astype(np.int32),
            "difficulty": sig.difficulty[o].astype(float),
            "quality": sig.quality[o].astype(float),
            "remainder": cur.remainder,
            "pass": cur.passes.astype(np.int32),
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
                "clusters": len(set(cur.clusters[rows].tolist())),
                "mean_difficulty": float(sig.difficulty[rows].mean()),
                "mean_quality": float(sig.quality[rows].mean()),
                "remainder": bool(cur.remainder[cur.batch == t].any()),
            }
        )
    return out


def build_curriculum_file(
    ctx: BuildContext, params: dict[str, Any], inputs: dict[str, Artifact], device: str
) -> None:
    cfg: CurriculumConfig = params["curriculum"]
    records = load_split(inputs["data"], "train")
    sig = signals_for(cfg, records, inputs.get("signals"))
    steps = params.get("steps")
    z = train_features(inputs, records)
    cur = build_curriculum(sig, cfg, kept_clusterer(z, params.get("diversity")), steps, z)
    write_curriculum(ctx.path / FILE, cur, sig, records, to_dict(cfg))
    if z is not None:  # what the clusters, the difficulty proxy and the filter mean (the report shows it)
        from saerl.curriculum import interpret

        metrics = json.loads((inputs["signals"].path / "metrics.json").read_text())
        weights = metrics.get("difficulty", {}).get("latent_weights")
        explained = interpret.interpret(records, z, cur.clusters, sig.difficulty, cur.dropped, weights)
        if cfg.mode == "coverage":
            from saerl.curriculum.coverage import verifier_weights

            u = verifier_weights(sig.difficulty, sig.rollout_difficulty, cfg.coverage_weights)
            explained["coverage"] = interpret.coverage(records, cur.clusters, cur.order, u)
        (ctx.path / interpret.FILE).write_text(json.dumps(explained, indent=1))
    stats = batch_stats(cur, sig)
    (ctx.path / "batches.json").write_text(json.dumps(stats, indent=1))
    (ctx.path / "dropped.json").write_text(json.dumps([records[i].id for i in cur.dropped]))
    ctx.info.update(
        mode=cfg.mode,
        rows=len(cur.order),
        batches=cur.n_batches,
        dropped=len(cur.dropped),
        mean_clusters_per_batch=float(np.mean([s["clusters"] for s in stats])),
        steps=steps,
        pool=len(records),
        kept=len(records) - len(cur.dropped),
        unique_prompts=len(set(cur.order.tolist())),
        pool_fraction=len(set(cur.order.tolist())) / len(records),  # of the whole pool
        kept_fraction=len(set(cur.order.tolist())) / max(1, len(records) - len(cur.dropped)),  # of the kept
        passes=int(cur.passes.max()) + 1,
    )


def read_curriculum(path: Path) -> tuple[Any, dict[str, Any]]:
    """(pyarrow table in training order, the curriculum config it was built with)."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    return table, json.loads(table.schema.metadata[CONFIG_KEY])
