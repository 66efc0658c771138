"""The miniature's synthetic arithmetic-reasoning dataset.

Five topics (addition, subtraction, multiplication, two-step expressions, word problems) with a
column-wise scratchpad solution ending in a GSM8K-style '#### n' line. Difficulty grows with
operand digits, operations and carries/borrows (all kept in `meta`). Splits:
- sft: clean items with solutions, operands up to `sft_max_digits` (the warm-start's diet);
- train: the RL/scoring pool, operands up to `max_digits`, a `noise_rate` fraction corrupted;
- eval_id: clean, same distribution as train;
- eval_ood: clean, out of distribution in the way `ood` says: 'shifted' (default) keeps the numbers
  in range but uses forms training never shows (new phrasings, new names and objects, a distractor
  quantity, new combinations of operations); 'longer' makes operands one digit longer (every
  warm-started model scores 0% on it, so it carries no information; analysis/LOG.md).
Noise ground truth lives in meta['noise'] and is used for evaluation of the quality probe only.
No prompt appears in two splits. Everything is a function of the config: same seed, same bytes.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from saerl.data.config import ArithConfig
from saerl.data.noise import corrupt_prompt, wrong_integer
from saerl.data.records import Record

SPLITS = ("sft", "train", "val", "eval_id", "eval_ood")


@dataclass(frozen=True)
class Worked:
    """One solved operation: its scratchpad lines, result and carry/borrow count."""

    lines: tuple[str, ...]
    result: int
    carries: int


def column_add(a: int, b: int) -> Worked:
    da, db = str(a)[::-1], str(b)[::-1]
    lines, carry, carries = [], 0, 0
    for i in range(max(len(da), len(db))):
        x, y = int(da[i]) if i < len(da) else 0, int(db[i]) if i < len(db) else 0
        s = x + y + carry
        lhs = f"{x}+{y}" + (f"+{carry}" if carry else "")
        carry = s // 10
        carries += carry
        lines.append(f"{lhs}={s} w{s % 10} c{carry}")
    if carry:
        lines.append(f"w{carry}")
    return Worked(tuple(lines), a + b, carries)


def column_sub(a: int, b: int) -> Worked:
    assert a >= b >= 0
    da, db = str(a)[::-1], str(b)[::-1]
    lines, borrow, borrows = [], 0, 0
    for i in range(len(da)):
        x, y = int(da[i]), int(db[i]) if i < len(db) else 0
        lhs = f"{x}-{y}" + (f"-{borrow}" if borrow else "")
        r = x - y - borrow
        borrow = 1 if r < 0 else 0
        borrows += borrow
        lines.append(f"{'1' if borrow else ''}{lhs}={r + 10 * borrow} w{r + 10 * borrow} b{borrow}")
    return Worked(tuple(lines), a - b, borrows)


def column_mul(a: int, m: int) -> Worked:
    """a times a one-digit m."""
    assert 0 <= m <= 9
    lines, carry, carries = [], 0, 0
    for ch in str(a)[::-1]:
        p = int(ch) * m + carry
        lhs = f"{ch}*{m}" + (f"+{carry}" if carry else "")
        carry = p // 10
        carries += carry > 0
        lines.append(f"{lhs}={p} w{p % 10} c{carry}")
    if carry:
        lines.append(f"w{carry}")
    return Worked(tuple(lines), a * m, carries)


OPS: dict[str, Callable[[int, int], Worked]] = {"+": column_add, "-": column_sub, "*": column_mul}


def solve(a: int, op: str, b: int) -> Worked:
    worked = OPS[op](a, b)
    return Worked((f"{a}{op}{b}:", *worked.lines, f"={worked.result}."), worked.result, worked.carries)


# ---------------------------------------------------------------------------- topics


@dataclass(frozen=True)
class Problem:
    topic: str
    prompt: str
    steps: tuple[Worked, ...]
    digits: int

    @property
    def answer(self) -> int:
        return self.steps[-1].result

    def solution(self) -> str:
        lines = [line for w in self.steps for line in w.lines]
        return " ".join(lines) + f" #### {self.answer}"


def _number(rng: random.Random, digits: int) -> int:
    return rng.randint(0 if digits == 1 else 10 ** (digits - 1), 10**digits - 1)


def _pair(rng: random.Random, d: int) -> tuple[int, int]:
    return _number(rng, d), _number(rng, rng.randint(1, d))


def _addition(rng: random.Random, d: int) -> Problem:
    a, b = _pair(rng, d)
    if rng.random() < 0.5:
        a, b = b, a
    return Problem(
        "addition",
        rng.choice(["What is {a}+{b}?", "Compute {a}+{b}.", "Add {a} and {b}."]).format(a=a, b=b),
        (solve(a, "+", b),),
        d,
    )


def _subtraction(rng: random.Random, d: int) -> Problem:
    a, b = _pair(rng, d)
    a, b = max(a, b), min(a, b)
    text = rng.choice(["What is {a}-{b}?", "Compute {a}-{b}.", "Subtract {b} from {a}."])
    return Problem("subtraction", text.format(a=a, b=b), (solve(a, "-", b),), d)


def _multiplication(rng: random.Random, d: int) -> Problem:
    a, m = _number(rng, d), rng.randint(2, 9)
    text = rng.choice(["What is {a}*{m}?", "Compute {a}*{m}.", "Multiply {a} by {m}."])
    return Problem("multiplication", text.format(a=a, m=m), (solve(a, "*", m),), d)


def _expression(rng: random.Random, d: int) -> Problem:
    a, b = _pair(rng, d)
    shape = rng.choice(["a+b-c", "a-b+c", "a*m+c"])
    if shape == "a*m+c":
        m, c = rng.randint(2, 9), _number(rng, rng.randint(1, d))
        first = solve(a, "*", m)
        text = f"Compute {a}*{m}+{c}."
        return Problem("expression", text, (first, solve(first.result, "+", c)), d)
    if shape == "a+b-c":
        first = solve(a, "+", b)
        c = rng.randint(0, min(first.result, 10**d - 1))
        return Problem("expression", f"Compute {a}+{b}-{c}.", (first, solve(first.result, "-", c)), d)
    a, b = max(a, b), min(a, b)
    first, c = solve(a, "-", b), _number(rng, rng.randint(1, d))
    return Problem("expression", f"Compute {a}-{b}+{c}.", (first, solve(first.result, "+", c)), d)


NAMES = ("Tom", "Mia", "Ali", "Sara", "Ken", "Lena", "Omar", "Ivy")
THINGS = ("apples", "pens", "stickers", "coins", "books", "shells", "cards", "marbles")


def _word_problem(rng: random.Random, d: int) -> Problem:
    name, thing = rng.choice(NAMES), rng.choice(THINGS)
    kind = rng.choice(["gain", "loss", "groups"])
    if kind == "gain":
        a, b = _pair(rng, d)
        text = f"{name} has {a} {thing} and gets {b} more. How many {thing} does {name} have now?"
        return Problem("word_problem", text, (solve(a, "+", b),), d)
    if kind == "loss":
        a, b = _pair(rng, d)
        a, b = max(a, b), min(a, b)
        text = f"{name} had {a} {thing} and gave away {b}. How many {thing} are left?"
        return Problem("word_problem", text, (solve(a, "-", b),), d)
    a, m = _number(rng, d), rng.randint(2, 9)
    text = f"A box holds {a} {thing}. How many {thing} are in {m} boxes?"
    return Problem("word_problem", text, (solve(a, "*", m),), d)


# ---------------------------------------------------------------------------- out of distribution
# Numbers in the in-distribution range, forms the sft/train/eval_id generators never produce.

OOD_NAMES = ("Zoe", "Raj", "Nina", "Paul", "Hugo", "Ada")
OOD_THINGS = ("grapes", "tickets", "stamps", "keys", "buttons", "candles")


def _ood_phrasing(rng: random.Random, d: int) -> Problem:
    a, b = _pair(rng, d)
    kind = rng.choice(["+", "-", "*"])
    if kind == "+":
        t = rng.choice(
            ["Find the sum of {a} and {b}.", "How much is {a} plus {b}?", "{a} plus {b} equals what?"]
        )
        return Problem("addition", t.format(a=a, b=b), (solve(a, "+", b),), d)
    if kind == "-":
        a, b = max(a, b), min(a, b)
        t = rng.choice(
            ["Find the difference of {a} and {b}.", "How much is {a} minus {b}?", "Take {b} away from {a}."]
        )
        return Problem("subtraction", t.format(a=a, b=b), (solve(a, "-", b),), d)
    m = rng.randint(2, 9)
    t = rng.choice(
        ["Find the product of {a} and {m}.", "How much is {a} times {m}?", "{m} groups of {a} make how many?"]
    )
    return Problem("multiplication", t.format(a=a, m=m), (solve(a, "*", m),), d)


def _ood_names(rng: random.Random, d: int) -> Problem:
    """The word problems' sentences with names and objects that appear in no training split."""
    name, thing = rng.choice(OOD_NAMES), rng.choice(OOD_THINGS)
    kind = rng.choice(["gain", "loss", "groups"])
    a, b = _pair(rng, d)
    if kind == "gain":
        text = f"{name} has {a} {thing} and gets {b} more. How many {thing} does {name} have now?"
        return Problem("word_problem", text, (solve(a, "+", b),), d)
    if kind == "loss":
        a, b = max(a, b), min(a, b)
        text = f"{name} had {a} {thing} and gave away {b}. How many {thing} are left?"
        return Problem("word_problem", text, (solve(a, "-", b),), d)
    m = rng.randint(2, 9)
    text = f"A box holds {a} {thing}. How many {thing} are in {m} boxes?"
    return Problem("word_problem", text, (solve(a, "*", m),), d)


def _ood_distractor(rng: random.Random, d: int) -> Problem:
    name, thing = rng.choice(NAMES), rng.choice(THINGS)
    other = rng.choice([t for t in THINGS if t != thing])
    a, b = _pair(rng, d)
    x = _number(rng, rng.randint(1, d))
    text = (
        f"{name} has {a} {thing} and {x} {other}, and gets {b} more {thing}. "
        f"How many {thing} does {name} have now?"
    )
    return Problem("word_problem", text, (solve(a, "+", b),), d)


def _ood_combination(rng: random.Random, d: int) -> Problem:
    """Two-step shapes the expression topic never uses (it has a+b-c, a-b+c, a*m+c)."""
    a, b = _pair(rng, d)
    if rng.random() < 0.5:
        first, c = solve(a, "+", b), _number(rng, rng.randint(1, d))
        return Problem("expression", f"Compute {a}+{b}+{c}.", (first, solve(first.result, "+", c)), d)
    m = rng.randint(2, 9)
    first = solve(a, "*", m)
    c = rng.randint(0, min(first.result, 10**d - 1))
    return Problem("expression", f"Compute {a}*{m}-{c}.", (first, solve(first.result, "-", c)), d)


OOD_GENERATORS: tuple[Callable[[random.Random, int], Problem], ...] = (
    _ood_phrasing,
    _ood_names,
    _ood_distractor,
    _ood_combination,
)


GENERATORS: dict[str, Callable[[random.Random, int], Problem]] = {
    "addition": _addition,
    "subtraction": _subtraction,
    "multiplication": _multiplication,
    "expression": _expression,
    "word_problem": _word_problem,
}


# ---------------------------------------------------------------------------- noise


def _corrupt(rng: random.Random, kind: str, prompt: str, answer: int) -> tuple[str, str]:
    """Return (prompt, answer) corrupted by ``kind``."""
    if kind == "wrong_answer":
        return prompt, wrong_integer(rng, answer)
    if kind == "off_topic":
        return corrupt_prompt(rng, kind, prompt), str(rng.randint(0, 99))
    return corrupt_prompt(rng, kind, prompt), str(answer)


# ---------------------------------------------------------------------------- splits


def _digits_for(split: str, cfg: ArithConfig, rng: random.Random) -> int:
    if split == "eval_ood" and cfg.ood == "longer":
        return cfg.max_digits + 1
    top = cfg.sft_max_digits if split == "sft" else cfg.max_digits
    return rng.randint(1, top)


def computation(problem: Problem) -> str:
    """What a problem computes, whatever its wording: its operations with their operands, the
    operands of + and * in a fixed order ('12+7;19*3'). Two prompts with one computation ask the
    model the same thing."""
    steps = []
    for w in problem.steps:
        a, op, b = re.fullmatch(r"(\d+)([+\-*])(\d+):", w.lines[0]).groups()  # type: ignore[union-attr]
        if op in "+*":
            a, b = sorted((a, b), key=int)
        steps.append(f"{a}{op}{b}")
    return ";".join(steps)


def _record(split: str, i: int, problem: Problem) -> Record:
    carries = sum(w.carries for w in problem.steps)
    meta = {
        "computation": computation(problem),
        "split": split,
        "digits": problem.digits,
        "n_ops": len(problem.steps),
        "carries": carries,
        # OUR CHOICE of a single graded difficulty: operand length dominates, then extra
        # operations, then carries/borrows.
        "difficulty": float(problem.digits + (len(problem.steps) - 1) + 0.5 * carries),
        "solution": problem.solution(),
        "noise": "none",
    }
    return Record(f"arith-{split}-{i:05d}", problem.prompt, str(problem.answer), problem.topic, "arith", meta)


def generate_split(split: str, n: int, cfg: ArithConfig, taken: set[str]) -> list[Record]:
    """``n`` records of ``split``; prompts already in ``taken`` are avoided (and then added)."""
    rng = random.Random(f"arith/{cfg.seed}/{split}")
    out: list[Record] = []
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 50 * n + 1000:
            raise ValueError(f"arith: cannot make {n} distinct {split} prompts; raise max_digits or lower n")
        if split == "eval_ood" and cfg.ood == "shifted":  # the four shifts in turn
            problem = OOD_GENERATORS[len(out) % len(OOD_GENERATORS)](rng, _digits_for(split, cfg, rng))
        else:
            topic = cfg.topics[len(out) % len(cfg.topics)]  # balanced topics
            problem = GENERATORS[topic](rng, _digits_for(split, cfg, rng))
        if problem.prompt in taken:
            continue
        taken.add(problem.prompt)
        out.append(_record(split, len(out), problem))
    order = list(range(len(out)))
    rng.shuffle(order)
    records = [out[j] for j in order]
    return _inject_noise(records, cfg, rng) if split == "train" else records


def _inject_noise(records: list[Record], cfg: ArithConfig, rng: random.Random) -> list[Record]:
    n_noisy = round(cfg.noise_rate * len(records))
    noisy = set(rng.sample(range(len(records)), n_noisy))
    out = []
    for i, rec in enumerate(records):
        if i not in noisy:
            out.append(rec)
            continue
        kind = cfg.noise_kinds[rng.randrange(len(cfg.noise_kinds))]
        prompt, answer = _corrupt(rng, kind, rec.prompt, int(rec.answer))
        meta = {**rec.meta, "noise": kind, "clean_prompt": rec.prompt, "clean_answer": rec.answer}
        out.append(Record(rec.id, prompt, answer, rec.topic, rec.source, meta))
    return out


def generate(cfg: ArithConfig) -> dict[str, list[Record]]:
    """Every split; eval splits are drawn first so train/sft never contain an eval prompt, and the
    validation split last (each split has its own seeded stream, so adding it changed no other)."""
    sizes = {
        "sft": cfg.n_sft,
        "train": cfg.n_train,
        "val": cfg.n_val,
        "eval_id": cfg.n_eval_id,
        "eval_ood": cfg.n_eval_ood,
    }
    taken: set[str] = set()
    made = {
        split: generate_split(split, sizes[split], cfg, taken)
        for split in ("eval_id", "eval_ood", "train", "sft", "val")
    }
    # Which held-out items repeat a computation some training prompt (RL pool or SFT) already asks:
    # the report gives accuracy on the others too (saerl.rl.callbacks).
    trained = {r.meta["computation"] for split in ("train", "sft") for r in made[split]}
    for split in ("eval_id", "eval_ood", "val"):
        for r in made[split]:
            r.meta["seen_computation"] = r.meta["computation"] in trained
    return {split: made[split] for split in SPLITS}


def counts(splits: dict[str, list[Record]]) -> dict[str, dict[str, Counter[str]]]:
    """Per split: counts by topic and by noise kind (for the `saerl data` printout)."""
    return {
        split: {
            "topic": Counter(r.topic for r in recs),
            "noise": Counter(r.meta.get("noise", "none") for r in recs),
        }
        for split, recs in splits.items()
    }
