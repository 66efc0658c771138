"""Corruptions that make low-quality prompts: used by the miniature's generator (ground truth kept in
meta['noise']) and to synthesise quality-probe negatives from clean real data (docs/method.md section 4)."""

from __future__ import annotations

import random

OFF_TOPIC = (
    "Describe your favourite season and why you like it.",
    "Write a short poem about the sea at night.",
    "Which city has the best food, in your opinion?",
    "Tell me a story about a dragon who loves music.",
    "What should I pack for a weekend trip to the mountains?",
    "Explain why cats like to sleep in boxes.",
)
PROMPT_CORRUPTIONS = ("garbled", "off_topic", "truncated")


def corrupt_prompt(rng: random.Random, kind: str, prompt: str) -> str:
    """A corrupted version of ``prompt``: characters shuffled, replaced by off-topic text, or cut."""
    if kind == "garbled":
        chars = list(prompt)
        rng.shuffle(chars)
        return "".join(chars)
    if kind == "off_topic":
        return rng.choice(OFF_TOPIC)
    if kind == "truncated":
        return prompt[: max(3, len(prompt) // 2 - rng.randint(0, 3))].rstrip()
    raise ValueError(f"unknown prompt corruption {kind!r}; choose from {list(PROMPT_CORRUPTIONS)}")


def wrong_integer(rng: random.Random, answer: int) -> str:
    """A nearby but wrong non-negative integer answer."""
    return str(max(0, answer + rng.choice([-1, 1]) * rng.randint(1, 9)) or answer + 1)
