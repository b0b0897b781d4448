"""What every OCR engine returns: words with boxes and confidences, grouped into lines."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Word:
    """One piece of text found in a figure: a word (or, for the plain RapidOCR engine, a whole line)."""

    text: str
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels of the original image
    confidence: float  # 0-100; each engine documents what it means and which value its targets keep
    line: int  # pieces with the same number form one line; numbers follow reading order
    angle: int = 0  # 0: horizontal; 90: rotated to read bottom to top (a y-axis label); 270: top to bottom


class Engine(Protocol):
    name: str
    target_confidence: float
    """Words below this confidence stay in the OCR record but not in training targets: the value
    the benchmark (benchmarks/ocr_accuracy.py --real) shows to keep junk low at little recall cost."""

    def settings(self) -> str: ...

    def read(self, path: Path) -> list[Word]: ...


def lines(words: list[Word], min_confidence: float = 0.0) -> list[str]:
    """Line texts in reading order, from the words at or above MIN_CONFIDENCE."""
    grouped: dict[int, list[str]] = {}
    for word in words:
        if word.confidence >= min_confidence:
            grouped.setdefault(word.line, []).append(word.text)
    return [text for _, parts in sorted(grouped.items()) if (text := " ".join(parts).strip())]


_LETTER = r"[^\W\d_]"
RELATION = re.compile(
    rf"^(?:.*[(|,\[])?{_LETTER}[*\d]?[=<>≤≥][-+−]?(?:\d+(?:\.\d+)?|{_LETTER})[)\]]*$")
"""A one-letter variable set against a number or another letter (γ=0, λ=500, p(f(X)|Z=−σ)): the
relation TeX sets with thick spaces, which a reader writes as one expression. A longer left side
(ΔT = 1, toff = 4, θ* = (1, −1)) is prose-like and keeps its spaces."""

DECIMAL = re.compile(r"^[-+−]?\d+\.\d+$")
"""A number split at its decimal point (OCR: by the ink gap around it, "0." "5", "61" ".0"; a text
layer: by mathtext's space after the point, "0." "5")."""


def spells_one_word(parts: list[str]) -> bool:
    """Whether PARTS, pieces of a line, spell a one-letter relation, or a decimal number split only
    at its point or after its sign ("0." "5"; never "2016" "2017.5", two tick labels)."""
    text = "".join(parts)
    if RELATION.match(text):
        return True
    if not DECIMAL.match(text):
        return False
    point = text.index(".")
    cuts, at = [], 0
    for part in parts[:-1]:
        at += len(part)
        cuts.append(at)
    return all(cut in (point, point + 1) or (cut == 1 and text[0] in "-+−") for cut in cuts)


def split_word_runs(tokens: list[str], max_parts: int = 4, fits=None) -> list[range]:
    """TOKENS (a line's words) cut into runs, each one token or up to MAX_PARTS that spell one word
    together (`spells_one_word`; and FITS(start, end), when given: close enough on the line),
    longest run first, left to right: "λ = 0|Z = 0" is one run."""
    runs, start = [], 0
    while start < len(tokens):
        end = next((end for end in range(min(len(tokens), start + max_parts), start + 1, -1)
                    if spells_one_word(tokens[start:end]) and (fits is None or fits(start, end))), start + 1)
        runs.append(range(start, end))
        start = end
    return runs


def intersection(a, b) -> float:
    """The area two boxes (x0, y0, x1, y1) share."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
