"""Answer text as people and models write it, made comparable before math-verify reads it.

Classes of forms, each a small pure function (tests in tests/test_grading.py, audit figures in
docs/tools.md):
- typesetting that carries no value: escaped dollars (`\\$36`), LaTeX spaces inside numbers
  (`70\\,000`, `32,\\!348`, `1{,}000`), thousands commas in a lone number (`32,348`), degree marks
  (`90^\\circ`, `90°`), a unit written after a number (`5\\ \\text{m}`, `6.5 \\mathrm{~cm}`);
- several answers: `$f(n)=n$, $g(n)=1$` (math blocks of a gold), `\\{1, 3, 5\\}`,
  `n \\in \\{-1,0,1\\}`, `69 \\text{ or } 84`, and answers boxed one by one (every `\\boxed{}` of the
  completion's final sentence);
- numbers in scientific notation: a gold `7e37` means 7 x 10^37 (math-verify would read e as
  Euler's number), compared as numbers with `E_NOTATION_REL_TOL`;
- an inequality for an interval (`x > 5` for `(5,\\infty)`).
A gold that is prose (`f(x)=ax+b, where b is an arbitrary integer`) is one answer, never split at
its commas.
"""

from __future__ import annotations

import re

E_NOTATION_REL_TOL = 1e-2
"""OUR CHOICE: golds in e-notation (Minerva Math) are rounded to 2-5 significant figures; a relative
tolerance of 1% accepts a model's own rounding to three figures and rejects a wrong exponent, a
factor of 2 or a slipped digit. math-verify keeps its exact comparison for every other answer."""

_SPACE_IN_NUMBER = re.compile(r"(?<=\d)(?:\\[,;:! ]|~|\{,\}|\u2009|\u202f|\u00a0)+(?=\d)")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_DEGREE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°|\\degree\b|\^\s*\{\s*\\text\{\s*o\s*\}\s*\}")
_UNIT = re.compile(
    r"(?:\\[ ,;:!]|~|\s)*\\(?:text|mathrm|textrm|mbox|operatorname)\s*"
    r"\{[~\s\\,]*[A-Za-z][A-Za-z\s/^\d.\-\\]*\}(?:\^\{?-?\d+\}?)?\s*$"
)
_NUMBERISH = re.compile(r"[\d.]\s*(?:\\%|%)?\s*$|\}\s*$")
_TEXT_OR = re.compile(r"\\text\{\s*(?:or|and)\s*\}|\s+(?:or|and)\s+")
_IN_SET = re.compile(r"^[A-Za-z](?:_\{?\w+\}?)?\s*\\in\s*")
_SET = re.compile(r"^\\\{(.*)\\\}$", re.S)
_E_GOLD = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


def strip_math_delimiters(text: str) -> str:
    """`$x$` -> `x`, `\\(x\\)` -> `x`; escaped dollars (`\\$`) are currency and stay for `clean`."""
    text = re.sub(r"(?<!\\)\$", "", text)
    return re.sub(r"\\\(|\\\)|\\\[|\\\]", "", text).strip()


def clean(text: str, keep_commas: bool = False) -> str:
    """Typesetting that carries no value removed (see the module docstring). ``keep_commas``: the
    answer may be a list, so `1,348` is not read as one thousand three hundred and forty-eight."""
    text = text.replace("\\$", "").replace("\\!", "")
    text = re.sub(r"\\(?:dfrac|tfrac)", r"\\frac", text)
    text = re.sub(r"\\left|\\right", "", text)
    text = _SPACE_IN_NUMBER.sub("", text)
    text = _DEGREE.sub("", text)
    text = strip_unit(text)
    text = text.strip().rstrip(".").strip()
    if not keep_commas and _THOUSANDS.match(text):
        text = text.replace(",", "")
    return text


def strip_unit(text: str) -> str:
    """A unit written after a value (`5\\ \\text{m}`, `6.5 \\mathrm{~cm}`) removed; a text that is only
    words (`\\text{yes}`) is left alone."""
    match = _UNIT.search(text)
    if match and match.start() > 0 and _NUMBERISH.search(text[: match.start()].rstrip()):
        return text[: match.start()].rstrip()
    return text


def percent_free(text: str) -> str:
    return re.sub(r"\\?%", "", text).strip()


def is_prose(text: str) -> bool:
    """An answer that is a sentence (two or more words of three letters or more outside math)."""
    outside = re.sub(r"\$[^$]*\$", " ", text)
    outside = re.sub(r"\\[A-Za-z]+", " ", outside)
    words = re.findall(r"[A-Za-z]{3,}", outside)
    return len(words) >= 2


def leading_math(text: str) -> str:
    """The mathematics a prose answer starts with: its first `$...$` block, else the text before the
    first clause (', where ...', ' for ...'): `f(x)=ax+b, where b is an integer` -> `f(x)=ax+b`."""
    if blocks := re.findall(r"(?<!\\)\$([^$]+)(?<!\\)\$", text):
        return blocks[0].strip()
    return re.split(r",?\s+(?:where|for|with|when|if|and)\s+|,\s*(?=[A-Za-z]{3,})", text, maxsplit=1)[
        0
    ].strip()


def gold_answers(text: str, multiple: bool) -> list[str]:
    """The answers a gold string holds: several math blocks (`$a$, $b$`), a list when the problem has
    several answers; one answer when it is prose."""
    text = text.strip()
    if is_prose(text):
        return [text]
    blocks = re.findall(r"(?<!\\)\$([^$]+)(?<!\\)\$", text)
    between = re.sub(r"(?<!\\)\$[^$]+(?<!\\)\$", "", text)
    if len(blocks) > 1 and not re.sub(r"[\s,;]|and|or", "", between):
        parts = [b.strip() for b in blocks]
        if multiple:
            return [p for b in parts for p in split_top_level(b)]
        return parts
    plain = strip_math_delimiters(text)
    return split_top_level(plain) if multiple else [plain]


def split_top_level(text: str, separators: str = ",;") -> list[str]:
    """``text`` split at separators outside brackets and $...$ math: "$3$, $(1,2)$" -> 2 parts."""
    parts, depth, math, start = [], 0, False, 0
    for i, ch in enumerate(text):
        escaped = text[max(0, i - 1) : i] == "\\"
        if ch == "$" and not escaped:
            math = not math
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch in separators and depth == 0 and not math and not escaped:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def predicted_answers(text: str) -> list[str]:
    """A prediction of several answers as a list: set braces, `n \\in \\{...\\}`, `69 \\text{ or } 84`,
    commas at the top level."""
    text = _TEXT_OR.sub(",", text)
    text = _IN_SET.sub("", clean(text, keep_commas=True))
    if match := _SET.match(text.strip()):
        text = match.group(1)
    return [clean(p) for p in split_top_level(text)]


def final_boxes(completion: str) -> list[str]:
    """Every `\\boxed{}` of the completion's final sentence (answers boxed one by one: `\\boxed{1},
    \\boxed{3} and \\boxed{5}`), in order; [] without a box."""
    boxes = _boxes(completion)
    if not boxes:
        return []
    last_start = boxes[-1][0]
    head = completion[:last_start]
    cut = max(head.rfind("\n"), *(head.rfind(s) for s in (". ", ".\n", "? ", "! ")))
    return [content for start, content in boxes if start > cut]


def _boxes(text: str) -> list[tuple[int, str]]:
    out = []
    for match in re.finditer(r"\\(?:boxed|fbox)\s*\{", text):
        depth, i = 1, match.end()
        for j in range(i, len(text)):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            if depth == 0:
                out.append((match.start(), text[i:j].strip()))
                break
    return out


def e_notation_gold(gold: str) -> float | None:
    """The value of a gold written in e-notation (`7e37`, `1.4903e4`), else None."""
    text = strip_math_delimiters(gold).replace(" ", "")
    return float(text) if _E_GOLD.match(text) else None


def as_number(text: str) -> float | None:
    """A plain number, in any of the ways one is written: `7 \\times 10^{37}`, `7\\cdot10^{37}`, `7E37`,
    `7e37`, `10^{-3}`, `0.001`, `1,400` (thousands); None for anything else."""
    t = clean(strip_math_delimiters(text)).replace(" ", "").replace("{", "").replace("}", "")
    t = t.replace("\\times", "*").replace("\\cdot", "*").replace("×", "*")
    if match := re.fullmatch(r"([+-]?(?:\d+\.?\d*|\.\d+))(?:\*10\^([+-]?\d+))?", t):
        mantissa = float(match.group(1))
        return mantissa * 10 ** int(match.group(2)) if match.group(2) else mantissa
    if match := re.fullmatch(r"10\^([+-]?\d+)", t):
        return float(10 ** int(match.group(1)))
    if _E_GOLD.fullmatch(t):
        return float(t)
    return None


def close(value: float, gold: float, rel_tol: float = E_NOTATION_REL_TOL) -> bool:
    return abs(value - gold) <= rel_tol * abs(gold)


_INEQUALITY = re.compile(
    r"^(?:(?P<lo>[^<>=\\]+?)\s*(?P<lo_op><|\\le|\\leq|<=)\s*)?[A-Za-z]\s*"
    r"(?P<op><|>|\\le|\\leq|\\ge|\\geq|<=|>=)\s*(?P<b>[^<>=\\]+?)$"
)


def interval_of_inequality(text: str) -> str | None:
    """`x > 5` -> `(5,\\infty)`, `x \\le 2` -> `(-\\infty,2]`, `1 < x \\le 2` -> `(1,2]`; else None."""
    t = clean(text).replace("\\geq", "\\ge").replace("\\leq", "\\le")
    match = _INEQUALITY.match(t)
    if not match:
        return None
    op, bound = match.group("op"), match.group("b").strip()
    strict = op in ("<", ">")
    if match.group("lo") is not None:  # lo < x < hi
        if op not in ("<", "\\le", "<="):
            return None
        lo_strict = match.group("lo_op") == "<"
        return f"{'(' if lo_strict else '['}{match.group('lo').strip()},{bound}{')' if strict else ']'}"
    if op in (">", "\\ge", ">="):
        return f"{'(' if strict else '['}{bound},\\infty)"
    return f"(-\\infty,{bound}{')' if strict else ']'}"


def looks_like_interval(text: str) -> bool:
    t = strip_math_delimiters(text).strip()
    return bool(re.match(r"^[\[(].*,.*[\])]$", t)) and "\\infty" in t
