"""Line recognition (PP-OCRv4 CTC) that keeps where each character sits, and words split where the ink has gaps.

The recogniser was trained mostly on Chinese, where lines have no spaces, so it glues English
words ("max.throughputinstablethroughputregion"). Its CTC output still says at which step (8 px of
the 48-px-high line image) each character was emitted; between two characters, a run of blank
columns wider than `space_ratio` × the line's ink height is a space, as a typesetter's word space
(about a third of an em) is wider than the gap between letters. Each character keeps its
probability: a word's confidence is the lowest of its characters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

HEIGHT = 48  # the recogniser's input height
STEP = 8  # input pixels per CTC step


@dataclass
class LineImage:
    """One line as the recogniser saw it."""

    probabilities: np.ndarray  # [steps, charset + 2] softmax over blank, the charset, space
    ink_columns: np.ndarray  # [width] bool: columns of the resized line that hold ink
    ink_height: int  # rows between the first and last inked row, in resized pixels
    width: int  # resized width of the line, before padding to the batch


@dataclass(frozen=True)
class Span:
    """A word within a line: its text, lowest character probability, and extent in resized pixels and steps."""

    text: str
    confidence: float
    x0: float
    x1: float
    first_step: int
    last_step: int
    char_confidences: tuple[float, ...] = ()


def upright(rgb: np.ndarray, box: tuple[float, float, float, float], angle: int) -> np.ndarray:
    """The box's pixels turned so the text reads left to right (ANGLE 90: it read bottom to top)."""
    x0, y0 = int(box[0]), int(box[1])
    x1, y1 = math.ceil(box[2]), math.ceil(box[3])
    crop = rgb[y0:y1, x0:x1]
    if angle == 90:
        crop = np.rot90(crop, -1)  # clockwise
    elif angle == 270:
        crop = np.rot90(crop, 1)
    return np.ascontiguousarray(crop)


class TextRecogniser:
    def __init__(self, session, batch_size: int = 8, width_spread: float = 1.25):
        self.session = session
        self.batch_size = batch_size
        self.width_spread = width_spread
        charset = session.get_modelmeta().custom_metadata_map["character"].splitlines()
        self.charset = ["", *charset, " "]  # CTC blank first, space last, as PaddleOCR trains it
        self.index = {ch: i for i, ch in enumerate(self.charset) if i}

    def batches(self, ratios: list[float]) -> list[list[int]]:
        """Crop indices in batches of similar width: each is padded to its widest member, and the
        recogniser's attention over the width makes padding cost more than its share (measured on
        the six SciCap figures, CPU s per figure: batches of 8 in width order 0.46, batches of 8
        within 25% of one width 0.34)."""
        batches: list[list[int]] = []
        for index in np.argsort(ratios, kind="stable"):
            if batches and len(batches[-1]) < self.batch_size and ratios[index] <= self.width_spread * ratios[batches[-1][0]]:
                batches[-1].append(int(index))
            else:
                batches.append([int(index)])
        return batches

    def __call__(self, crops: list[np.ndarray]) -> list[LineImage]:
        """Each crop read at height 48, in batches of similar width."""
        results: list[LineImage | None] = [None] * len(crops)
        ratios = [c.shape[1] / max(1, c.shape[0]) for c in crops]
        for members in self.batches(ratios):
            padded = max(16, math.ceil(HEIGHT * max(ratios[i] for i in members) / STEP) * STEP)
            batch = np.zeros((len(members), 3, HEIGHT, padded), np.float32)
            lines = []
            for row, index in enumerate(members):
                width = max(1, min(padded, math.ceil(HEIGHT * ratios[index])))
                resized = cv2.resize(crops[index], (width, HEIGHT), interpolation=cv2.INTER_CUBIC)
                batch[row, :, :, :width] = (resized.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)
                lines.append((index, width, *_ink(resized)))
            probabilities = self.session.run(None, {"x": batch})[0]  # [batch, steps, charset + 2]
            for row, (index, width, columns, ink_height) in enumerate(lines):
                results[index] = LineImage(probabilities[row], columns, ink_height, width)
        return results  # type: ignore[return-value]

    def spans(self, line: LineImage, space_ratio: float = 0.3, allowed: np.ndarray | None = None) -> list[Span]:
        """The words of a line (greedy CTC decoding), split at the recogniser's spaces and at wide ink gaps.

        ALLOWED, a boolean mask over the charset, restricts decoding (e.g. to digits for a tick label);
        probabilities are then renormalised over the allowed characters: the layout that asked for a
        number has already said it is one, the question left is which digits.
        """
        probabilities = line.probabilities
        if allowed is not None:
            probabilities = np.where(allowed, probabilities, 0.0)
            probabilities = probabilities / np.maximum(probabilities.sum(axis=1, keepdims=True), 1e-12)
        best = probabilities.argmax(axis=1)
        chars: list[list] = []  # [character, step, probability]
        previous = 0
        for step, (index, probability) in enumerate(zip(best, probabilities[np.arange(len(best)), best])):
            if index != 0 and index == previous:
                chars[-1][2] = max(chars[-1][2], float(probability))
            elif index != 0:
                chars.append([self.charset[index], step, float(probability)])
            previous = index
        spans, current = [], []
        gap_needed = space_ratio * max(1, line.ink_height)
        for char in chars:
            if char[0] == " ":
                spans.append(current)
                current = []
                continue
            if current and _longest_blank(line.ink_columns, current[-1][1], char[1]) > gap_needed:
                spans.append(current)
                current = []
            current.append(char)
        spans.append(current)
        return [Span("".join(c[0] for c in chars_), word_confidence([c[2] for c in chars_]),
                     max(0.0, chars_[0][1] * STEP - STEP / 2), min(float(line.width), (chars_[-1][1] + 1.5) * STEP),
                     chars_[0][1], chars_[-1][1], tuple(c[2] for c in chars_))
                for chars_ in spans if chars_]


def word_confidence(char_probabilities) -> float:
    """A word is as sure as its least sure character. (Measured against the geometric mean of the
    characters: the same recall on the real figures at a lower threshold, 0.6% junk instead of 0%.)"""
    return float(min(char_probabilities))


def _ink(resized: np.ndarray) -> tuple[np.ndarray, int]:
    """Inked columns and the ink height of a resized line; ink differs from the border's median grey
    by more than 20% of the line's contrast."""
    grey = resized.astype(np.float32).mean(axis=2)
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    difference = np.abs(grey - np.median(border))
    ink = difference > max(20.0, 0.2 * float(difference.max()))
    rows = np.flatnonzero(ink.any(axis=1))
    return ink.any(axis=0), int(rows[-1] - rows[0] + 1) if len(rows) else HEIGHT


def _longest_blank(columns: np.ndarray, first_step: int, second_step: int) -> int:
    """Longest run of ink-free columns between the centres of two characters' CTC steps."""
    segment = columns[int((first_step + 0.5) * STEP):int((second_step + 0.5) * STEP)]
    if not len(segment):
        return 0
    # Run lengths of False via the positions where the inked state changes.
    padded = np.concatenate([[True], segment, [True]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return int((edges[1::2] - edges[::2]).max()) if len(edges) else 0
