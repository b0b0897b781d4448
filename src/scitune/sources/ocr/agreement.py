"""Two engines that agree: figure-engine words below its target confidence, confirmed by Tesseract.

Optional (Tesseract is a Debian package) and slower (both engines read every figure: about 0.9 CPU s
per figure instead of 0.35), for users who can afford it: a word the figure engine was unsure of,
which Tesseract reads identically at an overlapping place, is raised to the target confidence.
On the six SciCap figures the default figure engine (97.7% / 0.6%) leaves no word that Tesseract
confirms; without its second reading of unsure lines (`reread_below=0`) agreement adds recall.
"""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from pathlib import Path

from scitune.sources.ocr.figure import FigureOcr, FigureOcrSettings
from scitune.sources.ocr.tesseract import Tesseract
from scitune.sources.ocr.words import Word


def _key(text: str) -> str:
    return unicodedata.normalize("NFKC", text).replace("−", "-")


def _overlap(a: tuple, b: tuple) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


class FigureWithTesseract:
    name = "figure+tesseract"
    takes_lexicon = True

    def __init__(self, figure: FigureOcrSettings | None = None):
        self.figure, self.tesseract = FigureOcr(figure), Tesseract()
        self.target_confidence = self.figure.target_confidence

    def settings(self) -> str:
        return f"{self.figure.settings()}+{self.tesseract.settings()}"

    def read(self, path: Path, lexicon=None) -> list[Word]:
        words = self.figure.read(path, lexicon)
        others = self.tesseract.read(path)
        confirmed = []
        for word in words:
            if word.confidence < self.target_confidence and any(
                    _key(o.text) == _key(word.text) and _overlap(o.box, word.box) for o in others):
                word = replace(word, confidence=self.target_confidence)
            confirmed.append(word)
        return confirmed
