"""What every OCR engine returns: words with boxes and confidences, grouped into lines."""

from __future__ import annotations

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
