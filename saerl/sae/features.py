"""Pooled per-prompt features: z_i = mean (or max) of the SAE's activations over the prompt's tokens.

z is stored sparse (scipy CSR) next to the record ids; the raw pooled residual activations (dense,
d_model wide) come along as the non-SAE baseline of the signals study. Token-level activations are
never written: each batch is encoded and pooled as it comes out of the model, a chunk of tokens at
a time and from the nonzero activations only (`encode_pool`), and finished prompts are written in
shards that a killed build resumes from.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from saerl.sae.activations import iter_activations
from saerl.sae.config import ActivationsConfig

log = logging.getLogger(__name__)


class PromptFeatures(NamedTuple):
    ids: list[str]
    z: Any
    """scipy.sparse.csr_matrix [n_prompts, d_sae], float32."""
    raw: Any
    """numpy [n_prompts, d_model]: mean-pooled residual activations (the non-SAE baseline)."""
    seconds: float
    reused: int = 0
    """Prompts taken from the shards of an interrupted build rather than computed in ``seconds``."""


def pool(token_feats: Any, how: str) -> Any:
    """[n_tokens, d] -> [d]."""
    if how == "mean":
        return token_feats.mean(0)
    if how == "max":
        return token_feats.max(0).values
    raise ValueError(f"pooling: expected 'mean' or 'max', got {how!r}")


def _groups(lengths: Sequence[int], chunk_tokens: int) -> Iterator[list[int]]:
    """Consecutive prompt positions whose tokens add up to at most ``chunk_tokens`` (a longer prompt
    is a group of its own)."""
    group: list[int] = []
    total = 0
    for i, n in enumerate(lengths):
        if group and total + n > chunk_tokens:
            yield group
            group, total = [], 0
        group.append(i)
        total += n
    if group:
        yield group


@contextlib.contextmanager
def sparse_activations(sae: Any) -> Iterator[None]:
    """Within the block, a sae-lens TopK SAE's `encode` returns a sparse COO tensor (sae-lens's own
    `use_sparse_activations`): no dense [tokens x d_sae] output is filled with zeros and scattered
    into. Other SAEs are left as they are."""
    fn = getattr(sae, "activation_fn", None)
    if fn is None or not hasattr(fn, "use_sparse_activations"):
        yield
        return
    import torch

    before = fn.use_sparse_activations
    fn.use_sparse_activations = True
    try:
        # sae-lens builds the tensor from torch.topk's own indices: valid by construction, so skip
        # torch's invariant checks (and their warning).
        with torch.sparse.check_sparse_tensor_invariants(enable=False):
            yield
    finally:
        fn.use_sparse_activations = before


def encode_pool(sae: Any, acts: Sequence[Any], pooling: str, chunk_tokens: int = 4096) -> tuple[Any, Any]:
    """Pooled SAE features of prompts given their token activations ([n_tokens_i, d] each):
    (scipy CSR [n_prompts, d_sae] float32, numpy [n_prompts, d] mean-pooled activations).

    The fast path of `pool`: the SAE encodes ``chunk_tokens`` tokens at a time, and only the nonzero
    token activations are pooled (by segment sums or maxima), so no [tokens x d_sae] dense matrix
    outlives its chunk and no dense [d_sae] row is built per prompt; a TopK SAE hands over its top k
    per token as a sparse tensor (`sparse_activations`). Equal to `pool` over the dense
    activations (tests/test_features.py compares them).
    """
    import numpy as np
    import scipy.sparse as sp
    import torch

    if pooling not in ("mean", "max"):
        raise ValueError(f"pooling: expected 'mean' or 'max', got {pooling!r}")
    device = next(sae.parameters()).device
    d_sae = int(sae.cfg.d_sae)
    lengths = [len(a) for a in acts]
    if any(n == 0 for n in lengths):
        raise ValueError("encode_pool: a prompt has no tokens")
    rows, cols, vals = [], [], []
    raw = np.stack([a.float().mean(0).numpy() for a in acts]) if acts else np.zeros((0, 0), np.float32)
    for group in _groups(lengths, chunk_tokens):
        x = torch.cat([acts[i] for i in group]).to(device)
        lens = torch.tensor([lengths[i] for i in group], device=device)
        with torch.inference_mode(), sparse_activations(sae):
            feats = sae.encode(x)
            owner = torch.repeat_interleave(torch.arange(len(group), device=device), lens)
            if feats.is_sparse:  # sae-lens's TopK gave its top k per token directly
                feats = feats.coalesce()
                (tok, col), value = feats.indices(), feats.values().float()
            else:
                feats = feats.float()
                tok, col = feats.nonzero(as_tuple=True)
                value = feats[tok, col]
            del feats
            cell, inverse = torch.unique(owner[tok] * d_sae + col, return_inverse=True)
            prompt = cell // d_sae
            if pooling == "mean":
                pooled = torch.zeros(len(cell), device=device).index_add_(0, inverse, value)
                pooled = pooled / lens[prompt]
            else:
                pooled = torch.full((len(cell),), -torch.inf, device=device)
                pooled = pooled.scatter_reduce(0, inverse, value, "amax")
                # A latent silent on some of the prompt's tokens has a 0 among them, as in `pool`.
                silent = torch.bincount(inverse, minlength=len(cell)) < lens[prompt]
                pooled = torch.where(silent, pooled.clamp_min(0), pooled)
            keep = pooled != 0
        rows.append((prompt[keep] + group[0]).cpu().numpy())
        cols.append((cell[keep] % d_sae).cpu().numpy())
        vals.append(pooled[keep].cpu().numpy().astype(np.float32))
    coords = (np.concatenate(rows), np.concatenate(cols)) if rows else (np.zeros(0), np.zeros(0))
    data = np.concatenate(vals) if vals else np.zeros(0, np.float32)
    z = sp.csr_matrix((data, coords), shape=(len(acts), d_sae), dtype=np.float32)
    return z, raw.astype(np.float32)


class _Part(NamedTuple):
    idx: Any  # numpy int64 [n]: positions in the input
    z: Any  # CSR [n, d_sae]
    raw: Any  # [n, d_model]


def _write_shard(directory: Path, number: int, part: _Part, ids: Sequence[str]) -> None:
    import numpy as np

    directory.mkdir(parents=True, exist_ok=True)
    z = part.z
    tmp = directory / f".shard-{number:05d}.{uuid.uuid4().hex[:8]}.npz"
    with tmp.open("wb") as fh:
        np.savez(
            fh,
            idx=part.idx,
            ids=np.array([ids[i] for i in part.idx]),
            data=z.data,
            indices=z.indices,
            indptr=z.indptr,
            shape=np.array(z.shape),
            raw=part.raw,
        )
    os.replace(tmp, directory / f"shard-{number:05d}.npz")  # a shard is there whole or not at all


def _read_shards(directory: Path, ids: Sequence[str]) -> list[_Part]:
    """The complete shards of an earlier, interrupted build; a shard that names other prompts (or
    cannot be read) is set aside with a warning, and its prompts are computed again."""
    import numpy as np
    import scipy.sparse as sp

    parts: list[_Part] = []
    for path in sorted(directory.glob("shard-*.npz")):
        try:
            with np.load(path) as f:
                idx = f["idx"]
                if len(idx) and (idx.min() < 0 or idx.max() >= len(ids)):
                    raise ValueError("positions out of range")
                if [ids[i] for i in idx] != f["ids"].tolist():
                    raise ValueError("its record ids differ from this split's")
                z = sp.csr_matrix((f["data"], f["indices"], f["indptr"]), shape=tuple(f["shape"]))
                parts.append(_Part(idx, z, f["raw"]))
        except Exception as exc:  # a torn or foreign file: recompute rather than trust it
            log.warning("%s: not reused (%s: %s)", path, type(exc).__name__, exc)
            path.rename(path.with_suffix(".bad"))
    return parts


def prompt_features(
    model: Any,
    tokenizer: Any,
    sae: Any,
    prompts: Sequence[str],
    ids: Sequence[str],
    layer: int,
    cfg: ActivationsConfig,
    pooling: str,
    progress: str | None = None,
    chunk_tokens: int = 4096,
    shards: Path | None = None,
    shard_prompts: int = 8192,
) -> PromptFeatures:
    """Pooled SAE features of every prompt, in input order.

    With ``shards`` (a folder that outlives a killed build), every ``shard_prompts`` finished prompts
    are written there as one shard; a later call with the same folder reuses the shards it finds
    and computes only the prompts they lack.
    """
    import numpy as np
    import scipy.sparse as sp

    n = len(prompts)
    parts = _read_shards(shards, ids) if shards is not None and shards.is_dir() else []
    done = np.zeros(n, dtype=bool)
    for part in parts:
        done[part.idx] = True
    todo = np.flatnonzero(~done)
    if parts:
        log.info(
            "features: %d of %d prompts reused from %d shards in %s", n - len(todo), n, len(parts), shards
        )
    numbers = [int(p.stem.split("-")[1]) for p in shards.glob("shard-*.npz")] if shards is not None else []
    next_shard = max(numbers, default=-1) + 1
    pending: list[_Part] = []
    start = time.perf_counter()

    def flush() -> None:
        nonlocal next_shard
        part = _Part(
            np.concatenate([p.idx for p in pending]),
            sp.vstack([p.z for p in pending], format="csr"),
            np.concatenate([p.raw for p in pending]),
        )
        pending.clear()
        if shards is not None:
            _write_shard(shards, next_shard, part, ids)
            next_shard += 1
        parts.append(part)

    for batch in iter_activations(
        model,
        tokenizer,
        [prompts[i] for i in todo.tolist()],
        layer,
        cfg,
        ids=[ids[i] for i in todo.tolist()],
        progress=progress,
    ):
        z, raw = encode_pool(sae, batch.acts, pooling, chunk_tokens)
        pending.append(_Part(todo[batch.idx], z, raw))
        if sum(len(p.idx) for p in pending) >= shard_prompts:
            flush()
    if pending:
        flush()
    seconds = time.perf_counter() - start
    if not parts:
        d_sae, d_model = int(sae.cfg.d_sae), int(model.config.hidden_size)
        return PromptFeatures(
            list(ids),
            sp.csr_matrix((0, d_sae), dtype=np.float32),
            np.zeros((0, d_model), np.float32),
            seconds,
        )
    position = np.concatenate([p.idx for p in parts])
    if len(position) != n or not np.array_equal(np.sort(position), np.arange(n)):
        raise RuntimeError(f"features: shards cover {len(set(position.tolist()))} of {n} prompts, some twice")
    order = np.argsort(position)
    z = sp.vstack([p.z for p in parts], format="csr")[order].astype(np.float32)
    raw = np.concatenate([p.raw for p in parts])[order]
    return PromptFeatures(list(ids), z, raw, seconds, int(done.sum()))


def save_features(feats: PromptFeatures, directory: Path, split: str) -> None:
    import numpy as np
    import scipy.sparse as sp

    sp.save_npz(directory / f"z_{split}.npz", feats.z)
    np.save(directory / f"raw_{split}.npy", feats.raw)
    (directory / f"ids_{split}.json").write_text(json.dumps(feats.ids))


def load_features(directory: Path, split: str) -> PromptFeatures:
    import numpy as np
    import scipy.sparse as sp

    path = directory / f"z_{split}.npz"
    if not path.exists():
        have = sorted(p.stem[2:] for p in directory.glob("z_*.npz"))
        raise FileNotFoundError(f"{directory}: no features for split {split!r}; it has {have}")
    ids = json.loads((directory / f"ids_{split}.json").read_text())
    return PromptFeatures(ids, sp.load_npz(path).tocsr(), np.load(directory / f"raw_{split}.npy"), 0.0)
