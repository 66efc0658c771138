"""What can be refuted before a sweep submits anything: a layer the source model does not have, an
SAE k wider than the SAE, an OpenRLHF command line that OpenRLHF's own cross-flag rules reject.
Model sizes come from the family spec or the model's config.json (local folder or HF cache)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from saerl.launch.graph import Node


def model_depth(node: Node) -> int | None:
    """Decoder layers of a model node: its family spec, or config.json of a local folder or a hub
    snapshot in the HF cache; None where its config is not on this machine."""
    if not node.external:
        return int(node.params["spec"].num_layers)
    config = _model_config(node.external)
    depth = config and (
        config.get("num_hidden_layers") or config.get("text_config", {}).get("num_hidden_layers")
    )
    return int(depth) if depth else None


def _model_config(name: str) -> dict[str, Any] | None:
    """config.json of a local model folder or of a hub snapshot in the HF cache, else None."""
    folder = Path(name).expanduser()
    if not folder.is_dir():
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(name, local_files_only=True))
        except Exception:  # not cached here
            return None
    try:
        config: dict[str, Any] = json.loads((folder / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return config


def model_width(node: Node) -> int | None:
    """d_model of a model node (family spec or config.json), None where unknown here."""
    if not node.external:
        return int(node.params["spec"].hidden_size)
    config = _model_config(node.external)
    return int(config["hidden_size"]) if config and config.get("hidden_size") else None


def check_models(nodes: Sequence[Node], outcome: str = "nothing was submitted") -> None:
    """What a model's own config refutes, before any job starts (not 20 s into one): a layer the
    source model does not have, an SAE k wider than the SAE (its width from the model's d_model)."""
    from saerl.sae.training import check_width

    for node in nodes:
        trained = node.stage == "sae" and not node.params["sae"].pretrained
        if trained and (d_model := model_width(node.inputs["source"])) is not None:
            try:
                check_width(node.params["sae"], d_model)
            except ValueError as exc:
                raise ValueError(f"{exc}; {outcome}") from None
        if node.stage != "activations" or (layer := node.params["activations"].layer) == -1:
            continue
        source = node.inputs["source"]
        depth = model_depth(source)
        if depth is not None and not 0 <= layer < depth:
            raise ValueError(
                f"activations.layer={layer}: the source model {source.label.removeprefix('model ')} has "
                f"{depth} layers (0..{depth - 1}; -1 picks the middle); {outcome}"
            )


def check_openrlhf_runs(nodes: Sequence[Node], outcome: str = "nothing was submitted") -> None:
    """OpenRLHF's cross-flag rules for every OpenRLHF run about to be submitted (or planned), before
    anything is: a rejected command line would otherwise fail hours later, after its inputs were
    built, or hang until the time limit."""
    from saerl.rl.openrlhf.command import CommandError, check_command

    for node in nodes:
        if node.stage == "run" and node.params["rl"].backend == "openrlhf":
            try:
                check_command(node.params["rl"], node.params["config"]["curriculum"]["batch_size"])
            except CommandError as exc:
                raise CommandError(f"run {node.params['name']}: {exc}; {outcome}") from None
