"""A documented rule for the option letter a free-text answer names (AI2D lenient score, SciFIBench).

First the lenient ScienceQA rule `scitune` (answer_rules.py: `ANSWER: X.` at the end, `The answer
is X`, a bare `X` / `X.` / `(X)`, the exact text of one option); a lone letter in either case; then,
for answers that reason first: the last letter stated as the answer
("Answer: C", "answer is (C)", "option C"), else the last `(C)` or `C)` option marker, else the option
whose text the answer quotes last. Anything else names no option (None).
"""

from __future__ import annotations

import re

from scitune.evaluate.answer_rules import read_answer

_STATED = re.compile(r"(?i:answer|option|choice)\s*(?i:is|would be|:)?\s*:?\s*(?i:option\s*|choice\s*)?\**\(?([A-Z])\)?"
                     r"(?![A-Za-z0-9])")
_MARKER = re.compile(r"(?:^|[\s(*])\(?([A-Z])\)(?![A-Za-z0-9])")


def strip_option_letter(option: str) -> str:
    """SciFIBench writes options as 'A) text'; the text alone."""
    return re.sub(r"^\s*\(?[A-Z]\)\s*", "", option).strip()


def extract_letter(text: str, options: list[str]) -> str | None:
    """The option letter TEXT names, or None (see the module docstring)."""
    letters = [chr(ord("A") + i) for i in range(len(options))]
    index = read_answer(text, options, "scitune").index
    if index is not None:
        return letters[index]
    bare = re.fullmatch(r"\(?([A-Za-z])\)?[.):]?", text.strip())
    if bare:  # a lone letter, whatever its case
        return bare.group(1).upper() if bare.group(1).upper() in letters else None
    stated = [m.group(1) for m in _STATED.finditer(text) if m.group(1) in letters]
    if stated:
        return stated[-1]
    markers = [m.group(1) for m in _MARKER.finditer(text) if m.group(1) in letters]
    if markers:
        return markers[-1]
    lowered, best, position = text.lower(), None, -1
    for letter, option in zip(letters, options, strict=True):
        needle = option.strip().lower()
        at = lowered.rfind(needle) if len(needle) > 3 else -1
        if at > position:
            best, position = letter, at
    return best
