"""Word recall and junk of an OCR reading against the text printed in a figure.

Both sides are bags of words (reading order differs between engines and layouts), compared after
Unicode NFKC normalisation (µ and μ are one letter) with minus signs and dashes as "-" and accents
over letters dropped (the hand truths leave them out, "ŷ" as "y": OCR engines cannot read them,
a text layer can). Recall is the share of printed words read exactly; junk is the share of words
read that are not printed.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass

_DASHES = str.maketrans({"−": "-", "–": "-", "‐": "-", "‑": "-"})


def normalise(text: str, signs: bool = True) -> list[str]:
    """Words after NFKC and dash normalisation; without SIGNS, leading minus/plus signs are dropped
    and lone signs vanish (for truths that set a sign apart from its number)."""
    text = unicodedata.normalize("NFKC", text).translate(_DASHES)
    if any(unicodedata.combining(ch) for ch in unicodedata.normalize("NFD", text)):
        text = unicodedata.normalize("NFC", "".join(ch for ch in unicodedata.normalize("NFD", text)
                                                     if not unicodedata.combining(ch)))
    words = text.split()
    if not signs:
        words = [w.lstrip("-+") for w in words]
    return [w for w in words if w]


@dataclass(frozen=True)
class WordScore:
    matched: int
    printed: int  # words in the figure
    read: int  # words the engine returned

    @property
    def recall(self) -> float:
        return self.matched / self.printed if self.printed else 1.0

    @property
    def junk(self) -> float:
        return (self.read - self.matched) / self.read if self.read else 0.0

    def __add__(self, other: WordScore) -> WordScore:
        return WordScore(self.matched + other.matched, self.printed + other.printed, self.read + other.read)


def score_words(printed: str | list[str], read: str | list[str], signs: bool = True) -> WordScore:
    """Bag-of-words match of READ against PRINTED (strings are split on whitespace)."""
    truth = Counter(normalise(printed if isinstance(printed, str) else " ".join(printed), signs))
    found = Counter(normalise(read if isinstance(read, str) else " ".join(read), signs))
    return WordScore(sum((truth & found).values()), sum(truth.values()), sum(found.values()))


def differences(printed: str, read: str, signs: bool = True) -> tuple[list[str], list[str]]:
    """(printed words not read, words read that are not printed), for reports."""
    truth, found = Counter(normalise(printed, signs)), Counter(normalise(read, signs))
    return sorted((truth - found).elements()), sorted((found - truth).elements())
