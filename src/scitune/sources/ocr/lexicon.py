"""Near-misses corrected from words the figure is likely to hold: its caption, its paper, its own sure words.

A word read unsurely ("generaitions", "Joumal", "AoDV") is compared with lexicon words a small edit
distance away; the recogniser itself judges them: each candidate's CTC likelihood is computed on
the same output steps, and the best replaces the reading when the model finds it nearly as likely
as what it read. Nothing is ever taken from the lexicon that the image does not support.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import replace

import numpy as np

_WORD = re.compile(r"[^\W\d_][\w\-.]*[^\W_]|[^\W\d_]{3,}")


class Lexicon:
    """Words of three letters or more, looked up by a deletion index (distance ≤ 2 without a full scan)."""

    def __init__(self, words: Iterable[str], max_distance: int = 2):
        self.words = sorted({w for w in words if len(w) >= 3})
        self.max_distance = max_distance
        self._index: dict[str, set[str]] = {}
        for word in self.words:
            for variant in _deletions(word.lower(), max_distance):
                self._index.setdefault(variant, set()).add(word)

    @classmethod
    def from_text(cls, *texts: str) -> Lexicon:
        """The words of free text (a caption, a paper's paragraphs)."""
        return cls(w.strip(".-") for text in texts for w in _WORD.findall(text))

    def __len__(self) -> int:
        return len(self.words)

    def digest(self) -> str:
        return hashlib.sha1("\n".join(self.words).encode()).hexdigest()[:12]

    def candidates(self, word: str) -> list[str]:
        """Lexicon words within the edit distance allowed for WORD's length (case ignored), WORD excluded."""
        limit = min(self.max_distance, max(1, len(word) // 3))
        found: set[str] = set()
        for variant in _deletions(word.lower(), limit):
            found |= self._index.get(variant, set())
        return sorted(c for c in found if c != word and edit_distance(c.lower(), word.lower()) <= limit)


def _deletions(word: str, depth: int) -> set[str]:
    found, frontier = {word}, {word}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1:] for w in frontier for i in range(len(w))}
        found |= frontier
    return found


def edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def ctc_log_likelihood(probabilities: np.ndarray, labels: list[int], blank: int = 0) -> float:
    """log P(labels | probabilities) summed over every CTC alignment (the forward algorithm).

    probabilities: [steps, classes] softmax outputs. Returns -inf when the labels cannot fit.
    """
    steps = len(probabilities)
    extended = [blank]
    for label in labels:
        extended += [label, blank]
    states = len(extended)
    if not labels or steps < len(labels):
        return float("-inf")
    logp = np.log(np.maximum(probabilities[:, extended], 1e-30))  # [steps, states]
    alpha = np.full(states, -np.inf)
    alpha[0], alpha[1] = logp[0, 0], logp[0, 1]
    # A state may also come from two back when it is a label differing from the label before.
    skip = np.array([s >= 2 and extended[s] != blank and extended[s] != extended[s - 2] for s in range(states)])
    for t in range(1, steps):
        stay = alpha
        step = np.concatenate([[-np.inf], alpha[:-1]])
        jump = np.where(skip, np.concatenate([[-np.inf, -np.inf], alpha[:-2]]), -np.inf)
        alpha = np.logaddexp(np.logaddexp(stay, step), jump) + logp[t]
    return float(np.logaddexp(alpha[-1], alpha[-2]))


def correct_near_misses(pieces, lexicons: list[Lexicon], below: float = 0.9, margin: float = 3.0) -> int:
    """Unsure words (confidence below BELOW) replaced by the candidate of LEXICONS the recogniser
    finds most likely, when it is within MARGIN nats of the reading itself. Returns the count changed."""
    lexicons = [lexicon for lexicon in lexicons if len(lexicon)]
    if not lexicons:
        return 0
    changed = 0
    for piece in pieces:
        if piece.confidence >= below or piece.probe is None or sum(ch.isalpha() for ch in piece.text) < 3:
            continue
        candidates = sorted({c for lexicon in lexicons for c in lexicon.candidates(piece.text)})
        if not candidates:
            continue
        scored = [(piece.probe.log_likelihood(c), c) for c in candidates]
        best_score, best = max(scored)
        read_score = piece.probe.log_likelihood(piece.text)
        if best_score > float("-inf") and best_score >= read_score - margin:
            # Confirmed by the lexicon: as sure as a word at BELOW, less by how much less likely
            # (per character) the image finds it than what was read.
            relative = float(np.exp(min(0.0, best_score - read_score) / len(best)))
            piece.text, piece.confidence = best, max(piece.confidence, below * relative)
            changed += 1
    return changed


def split_glued(pieces, lexicon: Lexicon, below: float = 0.9, max_prefix: int = 2) -> list:
    """Unsure words that are lexicon words run together ("AODVunder", after a legend marker read
    as "D-") split into those words, each with a share of the box by its characters."""
    if not len(lexicon):
        return pieces
    known = {w.lower(): w for w in lexicon.words}
    out = []
    for piece in pieces:
        parts = None
        if piece.confidence < below and not piece.angle and piece.text.lower() not in known:
            for start in range(max_prefix + 1):
                parts = _segment(piece.text[start:], known)
                if parts:
                    break
        if not parts:
            out.append(piece)
            continue
        x0, x1 = piece.box[0], piece.box[2]
        width = (x1 - x0) / max(1, len(piece.text))
        cursor = x0 + width * (len(piece.text) - sum(len(p) for p in parts))
        for part in parts:
            box = (cursor, piece.box[1], cursor + width * len(part), piece.box[3])
            out.append(replace(piece, text=known[part.lower()], box=box, probe=None, char_confidences=()))
            cursor += width * len(part)
    return out


def _segment(text: str, known: dict[str, str]) -> list[str] | None:
    """TEXT as two or more lexicon words of three letters or more (case ignored), fewest words first."""
    lower = text.lower()
    if len(lower) < 6 or not lower.isalpha():
        return None
    best: list[list[str] | None] = [None] * (len(lower) + 1)
    best[0] = []
    for end in range(3, len(lower) + 1):
        for start in range(end - 2):
            if best[start] is not None and lower[start:end] in known:
                candidate = best[start] + [text[start:end]]
                if best[end] is None or len(candidate) < len(best[end]):
                    best[end] = candidate
    found = best[len(lower)]
    return found if found and len(found) >= 2 else None
