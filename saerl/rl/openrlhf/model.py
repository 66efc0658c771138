"""The model folder an OpenRLHF run loads: the target, with a generation config that stops at the
chat turn end.

OpenRLHF 0.11.2 builds vLLM's ``SamplingParams`` without stop tokens and has no flag for them
(``trainer/ppo_utils/samples_generator.py``), for rollouts and evaluations alike. vLLM 0.29 stops at
the tokenizer's EOS and at every ``eos_token_id`` of the model folder's ``generation_config.json``:
its engines read that file by default (``--generation-config auto``; ``ModelConfig.
try_get_generation_config`` -> ``transformers.GenerationConfig.from_pretrained``) and every request
merges its ids into ``stop_token_ids`` (``SamplingParams.update_from_generation_config``, called by
``v1/engine/input_processor.py``). Base Qwen2.5's EOS is ``<|endoftext|>``, while a chat-formatted
prompt is answered up to ``<|im_end|>``: without the turn end among those ids, rollouts and evals run
to the length limit and are graded on a continuation the model invented.

So rank 0 of the run writes ``<run>/openrlhf/actor-model/``: a link to every file of the target's
folder (a local folder, or the hub snapshot in the HF cache) and its own ``generation_config.json``
whose ``eos_token_id`` holds the same stop ids as every other generation path of saerl
(``saerl.models.generation.stop_rule``: the model's own EOS ids and its chat template's turn end).
OpenRLHF's actor (DeepSpeed) and its vLLM engines load that folder; the model OpenRLHF saves at the
end carries the same generation config.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from saerl.models.generation import StopRule

FOLDER = "actor-model"
"""The folder's name inside the run's ``openrlhf/`` folder."""
GENERATION_CONFIG = "generation_config.json"


class TargetModelError(ValueError):
    """The target model's files cannot be found on this node, naming the model."""


def local_folder(target: str) -> Path:
    """The target's files on this node: the folder itself, or the hub snapshot (from the HF cache
    when the hub is unreachable or HF_HUB_OFFLINE is set)."""
    if Path(target).expanduser().is_dir():
        return Path(target).expanduser().resolve()
    if target.startswith((".", "/", "~")):
        raise TargetModelError(f"rl.target_model={target}: no such folder on this node")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(target))
    except Exception as exc:  # offline and not cached, unknown repo, no access
        raise TargetModelError(
            f"rl.target_model={target}: its files are not on this node and cannot be downloaded "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); download it where "
            "the hub is reachable (huggingface-cli download) into the cluster's HF cache, or name a folder"
        ) from None


def write_actor_folder(target: str, dest: Path) -> StopRule:
    """``dest``: links to the target's files and a generation_config.json that stops where every
    other generation path stops; returns the rule. Rewritten from scratch each time (a requeued
    job, an updated target), and published with a rename (a killed job leaves no half folder)."""
    from saerl.models.generation import stop_rule
    from saerl.models.loading import load_tokenizer

    source = local_folder(target)
    rule = stop_rule(source, load_tokenizer(source))
    config: dict[str, object] = {}
    if (source / GENERATION_CONFIG).is_file():
        config = json.loads((source / GENERATION_CONFIG).read_text())
    config["eos_token_id"] = rule.ids
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for entry in sorted(source.iterdir()):
        if entry.name != GENERATION_CONFIG and not entry.name.startswith("."):
            (tmp / entry.name).symlink_to(entry.absolute())
    (tmp / GENERATION_CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
    if dest.exists():
        dest.rename(old)
    tmp.rename(dest)
    shutil.rmtree(old, ignore_errors=True)
    return rule


CHECKPOINT_BYTES_PER_PARAM = 14
"""A ZeRO-2 checkpoint of a bf16 model trained with Adam: the bf16 weights (2 bytes per parameter)
and the fp32 master weights and two Adam moments (12)."""


def parameter_count(target: str) -> tuple[int | None, str]:
    """(parameters, where the number comes from): the safetensors headers of a local folder or a
    cached hub snapshot, else the size in the model's name ('Qwen2.5-Math-1.5B'), else unknown."""
    import re

    from saerl.models.loading import model_facts

    folder = Path(target).expanduser()
    if not folder.is_dir():
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(target, local_files_only=True))
        except Exception:  # not cached here (or not a hub id)
            folder = Path()
    if folder != Path() and (scale := model_facts(folder)["scale"]):
        return int(scale), "weights"
    if found := re.search(r"(\d+(?:\.\d+)?)\s*([BM])\b", Path(target).name, re.IGNORECASE):
        return int(float(found[1]) * (1e9 if found[2].upper() == "B" else 1e6)), "name"
    return None, "unknown"


def checkpoint_disk(keep: int, best: bool, params: int) -> int:
    """Peak bytes of one run's checkpoint folder plus its final model: ``keep`` regular checkpoints
    (OpenRLHF evicts before saving, so never more), a best one if kept, the final bf16 weights."""
    return (keep + int(best)) * CHECKPOINT_BYTES_PER_PARAM * params + 2 * params
