"""Config of the data layer: where prompts come from and the miniature's generator."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

TOPICS = ("addition", "subtraction", "multiplication", "expression", "word_problem")
NOISE_KINDS = ("wrong_answer", "garbled", "off_topic", "truncated")


@dataclass(frozen=True)
class ArithConfig:
    """The miniature's synthetic arithmetic-reasoning dataset (deterministic given `seed`)."""

    seed: int = 0
    """Generator seed: the same seed gives byte-identical split files."""
    n_train: int = 3000
    """Prompts in the RL/scoring pool (noise is injected here only)."""
    n_sft: int = 3000
    """Clean items with step-by-step solutions for the warm-start SFT (disjoint from train)."""
    n_val: int = 300
    """Validation items (clean, in-distribution, disjoint from every other split) for choosing RL
    settings (`rl.eval_splits=[val]` in tuning runs), so the reported eval sets are never tuned on."""
    n_eval_id: int = 300
    """In-distribution eval items (300+ keeps eval noise near 2.6 points; docs/tools.md)."""
    n_eval_ood: int = 300
    """Out-of-distribution eval items (see `ood`)."""
    ood: Literal["shifted", "longer"] = "shifted"
    """What makes eval_ood out of distribution. OUR CHOICE, by measurement (analysis/LOG.md): with
    'longer' (operands one digit longer) every warm-started model scores 0%, so the split carried
    no information; 'shifted' keeps numbers in range in forms no training split has (new phrasings,
    new names and objects, a distractor quantity, new combinations of operations), where the
    warm-started models score 10-16% (4-28% per shift)."""
    max_digits: int = 2
    """Largest operand length in train/sft/eval_id (and eval_ood with ood='shifted'; one more with
    ood='longer')."""
    sft_max_digits: int = 2
    """Largest operand length in the SFT split; set below `max_digits` to leave RL unseen ground."""
    topics: tuple[str, ...] = TOPICS
    """Topics to generate (a subset of the five built-in ones)."""
    noise_rate: float = 0.15
    """Fraction of train items corrupted; the ground truth stays in meta['noise'] for evaluation."""
    noise_kinds: tuple[str, ...] = NOISE_KINDS
    """Kinds of corruption, drawn uniformly."""

    def __post_init__(self) -> None:
        unknown = set(self.topics) - set(TOPICS)
        if unknown or not self.topics:
            raise ValueError(f"topics: {sorted(unknown) or 'empty'}; choose from {list(TOPICS)}")
        bad_noise = set(self.noise_kinds) - set(NOISE_KINDS)
        if bad_noise:
            raise ValueError(f"noise_kinds: unknown {sorted(bad_noise)}; choose from {list(NOISE_KINDS)}")
        if not 0.0 <= self.noise_rate < 1.0:
            raise ValueError(f"noise_rate: expected 0 <= rate < 1, got {self.noise_rate}")
        if self.noise_rate > 0 and not self.noise_kinds:
            raise ValueError("noise_kinds: empty while noise_rate > 0")
        if not 1 <= self.sft_max_digits <= self.max_digits <= 6:
            raise ValueError(
                f"sft_max_digits/max_digits: need 1 <= sft_max_digits ({self.sft_max_digits}) "
                f"<= max_digits ({self.max_digits}) <= 6"
            )
        for name in ("n_train", "n_sft", "n_val", "n_eval_id", "n_eval_ood"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must be >= 0")


@dataclass(frozen=True)
class FieldMap:
    """Column names for the `generic` mapping (empty string: the dataset has no such column)."""

    prompt: str = "prompt"
    """Column holding the question text."""
    answer: str = "answer"
    """Column holding the reference final answer."""
    id: str = ""
    """Column holding a stable row id; empty: '<source>:<row index>'."""
    topic: str = ""
    """Column holding a topic/category label, if any."""
    difficulty: str = ""
    """Column holding a numeric difficulty, if any (stored as meta['difficulty'])."""


@dataclass(frozen=True)
class DataConfig:
    """Where prompts come from. `source` is 'arith' (the miniature), a local file or folder, or a
    hub dataset name (needs a reachable hub)."""

    source: str = "arith"
    """'arith', a path (jsonl/json/parquet/csv/arrow file or a save_to_disk folder), or a hub id."""
    mapping: Literal["auto", "saerl", "deepmath", "math", "gsm8k", "generic"] = "auto"
    """How raw rows become records; 'auto' guesses from the source name and columns."""
    split: str = "train"
    """Split to read from a hub dataset or a DatasetDict folder."""
    fields: FieldMap = field(default_factory=FieldMap)
    """Column names for mapping='generic'."""
    max_prompt_chars: int = 8000
    """Rows with longer prompts are skipped as 'absurd_length' (and counted)."""
    max_records: int = 0
    """Keep only the first N usable records of a real source, in file order (a smoke test's pool);
    0 keeps every one. Not used by 'arith' (its sizes are data.arith.n_*)."""
    grader: Literal["auto", "int", "math"] = "auto"
    """'int' exact integer match (the miniature), 'math' math-verify; 'auto' picks by source."""
    arith: ArithConfig = field(default_factory=ArithConfig)
    """The synthetic generator, used when source='arith'."""

    def __post_init__(self) -> None:
        if not self.source:
            raise ValueError("source: must not be empty")
        if self.max_prompt_chars <= 0:
            raise ValueError("max_prompt_chars: must be > 0")
        if self.max_records < 0:
            raise ValueError("max_records: must be >= 0 (0 keeps every record)")
