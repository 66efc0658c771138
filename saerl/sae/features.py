"""Pooled per-prompt features: z_i = mean (or max) of the SAE's activations over the prompt's tokens.

z is stored sparse (scipy CSR) next to the record ids; the raw pooled residual activations (dense,
d_model wide) come along as the non-SAE baseline of the signals study. Token-level activations are
never written: each batch is encoded and pooled as it comes out of the model.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from saerl.sae.activations import iter_activations
from saerl.sae.config import ActivationsConfig


class PromptFeatures(NamedTuple):
    ids: list[str]
    z: Any
    """scipy.sparse.csr_matrix [n_prompts, d_sae], float32."""
    raw: Any
    """numpy [n_prompts, d_model]: mean-pooled residual activations (the non-SAE baseline)."""
    seconds: float


def pool(token_feats: Any, how: str) -> Any:
    """[n_tokens, d] -> [d]."""
    if how == "mean":
        return token_feats.mean(0)
    if how == "max":
        return token_feats.max(0).values
    raise ValueError(f"pooling: expected 'mean' or 'max', got {how!r}")


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
) -> PromptFeatures:
    import numpy as np
    import scipy.sparse as sp
    import torch

    n = len(prompts)
    rows: list[Any] = [None] * n
    raw = np.zeros((n, int(model.config.hidden_size)), dtype=np.float32)
    sae_device = next(sae.parameters()).device
    start = time.perf_counter()
    for batch in iter_activations(model, tokenizer, prompts, layer, cfg, ids=ids, progress=progress):
        lengths = [len(a) for a in batch.acts]
        tokens = torch.cat(batch.acts).to(sae_device)
        with torch.inference_mode():
            feats = sae.encode(tokens).float().cpu()
        for i, tok_feats, tok_acts in zip(batch.idx, feats.split(lengths), batch.acts, strict=True):
            rows[i] = sp.csr_matrix(pool(tok_feats, pooling).numpy()[None, :])
            raw[i] = tok_acts.mean(0).numpy()
    z = sp.vstack(rows, format="csr").astype(np.float32)
    return PromptFeatures(list(ids), z, raw, time.perf_counter() - start)


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
