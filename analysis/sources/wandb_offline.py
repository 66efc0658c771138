"""Read W&B offline run files (`run-<id>.wandb`) without a server.

Format (wandb 0.31; checked by a fixture test): a 7-byte header, then LevelDB-log framing in
32 KiB blocks. Each chunk: checksum (u32), length (u16, little-endian), type (u8: 1 full, 2 first,
3 middle, 4 last), payload. Reassembled payloads are `wandb_internal_pb2.Record` messages; this
module reads the config, history rows and summary.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from analysis.tidy import RunLog, RunSet, build, condition_of

HEADER_BYTES = 7
BLOCK = 32 * 1024
CHUNK_HEADER = 7  # u32 checksum, u16 length, u8 type
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


class OfflineRun(NamedTuple):
    config: dict[str, Any]
    history: list[dict[str, Any]]
    summary: dict[str, Any]
    name: str = ""
    group: str = ""
    exit_code: int | None = None
    """None: no exit record (still running, or killed before W&B could write one)."""

    @property
    def state(self) -> str:
        if self.exit_code is None:
            return "running"
        return "done" if self.exit_code == 0 else "failed"


def payloads(path: Path) -> Iterator[bytes]:
    data = path.read_bytes()
    pos, parts = HEADER_BYTES, []
    while pos + CHUNK_HEADER <= len(data):
        left_in_block = BLOCK - (pos % BLOCK)
        if left_in_block < CHUNK_HEADER:  # block trailer padding
            pos += left_in_block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + CHUNK_HEADER])
        body = data[pos + CHUNK_HEADER : pos + CHUNK_HEADER + length]
        pos += CHUNK_HEADER + length
        if kind == 0 and length == 0:
            continue  # zero padding
        if kind == FULL:
            yield body
        elif kind == FIRST:
            parts = [body]
        elif kind == MIDDLE:
            parts.append(body)
        elif kind == LAST:
            parts.append(body)
            yield b"".join(parts)
            parts = []


def _item_key(item: Any) -> str:
    return "/".join(item.nested_key) if item.nested_key else item.key


def read_offline_run(path: str | Path) -> OfflineRun:
    """Config, history rows (one dict per logged step) and summary of one `.wandb` file."""
    from wandb.proto import wandb_internal_pb2 as pb

    config: dict[str, Any] = {}
    history: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    name = group = ""
    exit_code: int | None = None
    for blob in payloads(Path(path)):
        rec = pb.Record()  # type: ignore[attr-defined]
        rec.ParseFromString(blob)
        kind = rec.WhichOneof("record_type")
        if kind == "history":
            history.append({_item_key(i): json.loads(i.value_json) for i in rec.history.item})
        elif kind == "exit":
            exit_code = int(rec.exit.exit_code)
        if kind == "run":
            name, group = rec.run.display_name or name, rec.run.run_group or group
        if kind in ("config", "run"):
            updates = rec.config.update if kind == "config" else rec.run.config.update
            for item in updates:
                value = json.loads(item.value_json)
                config[_item_key(item)] = value.get("value", value) if isinstance(value, dict) else value
        elif kind == "summary":
            for item in rec.summary.update:
                summary[_item_key(item)] = json.loads(item.value_json)
    return OfflineRun(config, history, summary, name, group, exit_code)


def load(root: str | Path) -> RunSet:
    """Every offline W&B run under ``root`` (any depth) as the tidy table. A resumed saerl run
    leaves one file per attempt; their histories are joined in time order (the folder names start
    with the start time) and the last attempt gives the state."""
    logs: dict[str, RunLog] = {}
    files = sorted(Path(root).rglob("run-*.wandb"), key=lambda f: (f.parent.parent, f.parent.name))
    for file in files:
        run = read_offline_run(file)
        cond = condition_of(run.config, run.group)
        key = f"{cond['sweep']}/{run.name}"
        earlier: list[Any] = list(logs[key].rows) if key in logs else []
        logs[key] = RunLog(key, cond, run.state, str(file), earlier + run.history)
    if not logs:
        raise FileNotFoundError(f"{root}: no W&B offline run files (run-*.wandb) found")
    return build(logs.values())


def find_run_file(run_dir: Path) -> Path:
    files = sorted(run_dir.glob("wandb/offline-run-*/run-*.wandb"))
    if not files:
        raise FileNotFoundError(f"{run_dir}: no offline W&B run file under wandb/")
    return files[-1]
