"""Reading a figure's words as a figure: tick labels are numbers in rows and columns, legends have line samples.

Rules that use the layout of plots, each measured in benchmarks/ocr_accuracy.py:
- a short word aligned with two or more numbers (a tick column or row) is read again with only
  digits allowed ("o" → "0", "i" → "1") when that reading is nearly as likely;
- the numbers of one axis are evenly spaced: a label whose value breaks the axis's linear fit but
  fits it with a decimal point put back ("12" among 0.2 … 1.0 → "1.2") is corrected (the point is
  one or two pixels at SciCap's resolution), and labels on the scale take the axis's confidence;
- a legend's line sample glued to its label ("—P(Ben." , "-max.") loses the dash, and so does a
  tick mark glued after its label ("20-", "K-", "4000·", "-0.5+"), and a label its frame's edge ("sample)");
- a row of tick labels read as one word ("100200300400", "1.0-0.50.00.51.0") is cut into the
  evenly spaced numbers it spells;
- a row (column) of tick labels that is no one scale is fitted panel by panel (0 5 10 0 5 10);
- what has no letter or digit is dropped, unless a sign between two words of its line ("ΔT = 1"),
  and glyph candidates (the detector missed them) are kept only as numbers aligned with the
  detector's numbers, or confident words of three letters or more;
- a line of copies of one letter ("X X") is a legend's marker sample, dropped;
- a one-letter relation (γ=0) or a decimal (0.5) split at its sign or point is one word again;
- a word the detector returned twice, in nearly the same box, is kept once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import pairwise
from statistics import median

import numpy as np

from scitune.sources.ocr.recognise import word_confidence
from scitune.sources.ocr.words import intersection, split_word_runs

NUMBER = re.compile(r"^[-+]?(\d{1,3}(,\d{3})+(\.\d+)?|\d+(\.\d+)?|\.\d+)([eE][-+]?\d+)?%?$")
LEGEND_DASH = re.compile(r"^[-–—_~=]+(?=[^\W\d_]|\()")
TICK_DASH = re.compile(r"(?<=[\w.)\]%])[-–—_~]+$")
NUMBER_TAIL = re.compile(r"[·•+']+$")  # a tick mark or grid dot read after a number ("30," is text)
NUMERIC_CHARS = "0123456789.,-+%"
INNER_SIGNS = set("=−-–~±∝&×+<>≤≥→")
"""Signs kept as words of their own when they stand between two words of a line."""
GREEK_LOOKALIKES = {"入": "λ"}
"""Greek letters the recogniser has no class for, as it reads them: in a figure written in Latin
letters a lone CJK character is a misread symbol."""


@dataclass
class Piece:
    """A word being read: where it came from and what is needed to read it again."""

    text: str
    confidence: float  # 0-1
    box: tuple[float, float, float, float]
    line: int  # index of the detected line it belongs to
    angle: int
    source: str  # "detector" or "glyphs"
    probe: object = field(default=None, repr=False)  # figure.SpanProbe: read again, score other texts
    char_confidences: tuple[float, ...] = ()  # one per character of text, when known


def is_number(text: str) -> bool:
    return bool(NUMBER.match(text))


def value(text: str) -> float | None:
    try:
        return float(text.replace(",", "").rstrip("%"))
    except ValueError:
        return None


def _centre(box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def aligned_numbers(piece: Piece, pieces: list[Piece], tolerance: float) -> tuple[list[Piece], list[Piece]]:
    """The horizontal numbers sharing PIECE's row (centre y) and its column (right edge: y-axis tick
    labels are right-aligned in the plotting programs we know of)."""
    cy = _centre(piece.box)[1]
    row, column = [], []
    for other in pieces:
        if other is piece or other.angle or not is_number(other.text):
            continue
        if abs(_centre(other.box)[1] - cy) < tolerance:
            row.append(other)
        if abs(other.box[2] - piece.box[2]) < tolerance:
            column.append(other)
    return row, column


def read_ticks_as_numbers(pieces: list[Piece], tolerance: float, min_confidence: float = 0.3) -> int:
    """Short words aligned with two or more numbers, read again with only digits allowed. Returns the count changed."""
    changed = 0
    for piece in pieces:
        if piece.angle or is_number(piece.text) or len(piece.text) > 4 or piece.probe is None:
            continue
        row, column = aligned_numbers(piece, pieces, tolerance)
        if max(len(row), len(column)) < 2:
            continue
        again = piece.probe.reread(NUMERIC_CHARS)
        if again and is_number(again[0]) and again[1] >= min_confidence:
            piece.text, piece.confidence = again
            changed += 1
    return changed


def repair_axis_points(pieces: list[Piece], tolerance: float) -> int:
    """Numbers of one axis that fit its linear scale once a decimal point or a minus sign is put
    back. Returns the count changed."""
    changed = 0
    numbers = [p for p in pieces if not p.angle and is_number(p.text) and value(p.text) is not None]
    for axis in (0, 1):  # 0: a column of y ticks (position = centre y); 1: a row of x ticks (centre x)
        for group in _groups(numbers, axis, tolerance):
            repaired = _repair_group(group, axis)
            if repaired is None:  # not one scale: perhaps the axes of panels side by side (0 5 10 0 5 10)
                repaired = sum(_repair_group(panel, axis) or 0 for panel in _panels(group, axis))
            changed += repaired
    return changed


def _panels(group: list[Piece], axis: int) -> list[list[Piece]]:
    """A row (column) of numbers cut where the values start again: the tick labels of panels side
    by side (stacked) sharing a baseline (right edge), each its own scale; runs of three or more. A
    run goes on until a value falls back to its first one or beyond, so one misread label ("05"
    among 0.0 … 1.5) stays in its panel's run, where the scale repairs it."""
    ordered = sorted(group, key=lambda p: _centre(p.box)[1 - axis])
    values = [value(p.text) for p in ordered]
    direction = np.sign(np.median(np.diff(values))) if len(values) > 1 else 0.0
    if direction == 0:
        return []
    runs, current, first = [], [ordered[0]], values[0]
    for piece, v in zip(ordered[1:], values[1:]):
        if (v - first) * direction <= 0:
            runs.append(current)
            current, first = [], v
        current.append(piece)
    runs.append(current)
    return [run for run in runs if len(run) >= 3 and len(run) < len(group)]


def _groups(numbers: list[Piece], axis: int, tolerance: float) -> list[list[Piece]]:
    """Numbers sharing a column (right edge) or a row (centre y), three or more."""
    key = (lambda p: p.box[2]) if axis == 0 else (lambda p: _centre(p.box)[1])
    groups: list[list[Piece]] = []
    for piece in sorted(numbers, key=key):
        if groups and abs(key(piece) - key(groups[-1][-1])) < tolerance:
            groups[-1].append(piece)
        else:
            groups.append([piece])
    return [g for g in groups if len(g) >= 3]


AXIS_FIT = 0.25
"""A label is on its axis's scale within this share of the step between neighbours: the positions
of labels cut from one glued run are shares of its box, a few pixels off (0.1 missed some)."""


def _repair_group(group: list[Piece], axis: int) -> int | None:
    """Labels of GROUP put on its linear scale; the count changed, None when it is not one scale."""
    positions = np.array([_centre(p.box)[1 - axis] for p in group])
    values = np.array([value(p.text) for p in group])
    # Theil-Sen: the median of pairwise slopes ignores the few misread labels.
    slopes = [(values[j] - values[i]) / (positions[j] - positions[i])
              for i in range(len(group)) for j in range(i + 1, len(group)) if abs(positions[j] - positions[i]) > 1]
    if not slopes:
        return None
    slope = float(median(slopes))
    intercept = float(median(values - slope * positions))
    predicted = intercept + slope * positions
    spacing = np.diff(np.sort(positions))
    unit = abs(slope) * float(np.median(spacing)) if len(spacing) else 0.0  # value step between neighbours
    if unit == 0:
        return None
    fits = np.abs(values - predicted) < AXIS_FIT * unit
    if fits.sum() < max(3, len(group) // 2 + 1):  # not a linear axis (log scale, or not ticks at all)
        return None
    changed = 0
    # A label whose value lands on the axis's scale is confirmed by it (a misreading rarely does):
    # it is as sure as the axis, and so is a repaired one.
    axis_confidence = float(median(p.confidence for p, fit in zip(group, fits) if fit))
    for piece, target, fit in zip(group, predicted, fits):
        if fit:
            piece.confidence = max(piece.confidence, axis_confidence)
            continue
        digits = piece.text
        # A decimal point lost ("04" for "0.4"), or a minus sign ("1.0" for "-1.0": the recogniser
        # often drops a dash at the very start of a line).
        candidates = [digits[:cut] + "." + digits[cut:] for cut in range(1, len(digits))]
        candidates += ["-" + digits] if digits[0].isdigit() else []
        for candidate in candidates:
            if is_number(candidate) and abs(value(candidate) - target) < AXIS_FIT * unit:
                piece.text, piece.confidence = candidate, max(piece.confidence, axis_confidence)
                changed += 1
                break
    return changed


def split_number_runs(pieces: list[Piece]) -> list[Piece]:
    """Horizontal words that spell three or more evenly spaced numbers of one format, glued (tick
    labels closer than a word gap), cut into those numbers; each gets its share of the box."""
    out = []
    for piece in pieces:
        parts = None if piece.angle else _arithmetic_run(piece.text)
        if not parts:
            out.append(piece)
            continue
        x0, y0, x1, y1 = piece.box
        step, start = (x1 - x0) / len(piece.text), 0
        for part, negative in parts:
            end = start + len(part)
            chars = piece.char_confidences[start:end] if len(piece.char_confidences) == len(piece.text) else ()
            text = "-" + part if negative and not part.startswith("-") else part
            out.append(Piece(text, word_confidence(chars) if chars else piece.confidence,
                             (x0 + start * step, y0, x0 + end * step, y1), piece.line, 0, piece.source, None, chars))
            start = end
    return out


_RUN_NUMBER = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?")


def _arithmetic_run(text: str, min_parts: int = 3) -> list[tuple[str, bool]] | None:
    """TEXT cut into MIN_PARTS or more numbers of one format that step evenly by a round step,
    each with whether it is negative (its minus sign may be lost: "1.0-0.50.0" is -1.0, -0.5, 0.0);
    None when no such cut exists. A text that is itself a number is cut only into parts of two
    characters or more, six characters in all at least ("100200300", never "12345")."""
    if not 2 * min_parts - 1 <= len(text) <= 40 or not set(text) <= set("0123456789.-"):
        return None
    whole = is_number(text)
    if whole and len(text) < 6:
        return None
    shortest = 2 if whole else 1
    # The first two numbers fix the format and the step; the rest must follow, so this is cubic in
    # the text's length at worst, not exponential.
    firsts = [m for size in range(1, len(text)) if (m := _RUN_NUMBER.fullmatch(text[:size]))]
    for a in firsts:
        decimals = len(a.group(2) or ".") - 1
        rest = text[a.end():]
        seconds = [m for size in range(1, len(rest) + 1)
                   if (m := _RUN_NUMBER.fullmatch(rest[:size])) and len(m.group(2) or ".") - 1 == decimals]
        for b in seconds:
            ma, mb = abs(float(a.group())), abs(float(b.group()))
            # Negatives come first; a sign read is a sign, a sign lost may be either.
            for va in ([-ma] if a.group().startswith("-") else [ma, -ma]):
                for vb in ([-mb] if b.group().startswith("-") else [mb, -mb]):
                    step = vb - va
                    if step <= 0 or not _round_step(step) or (vb < 0 and va > 0):
                        continue
                    parts = [(a.group(), va < 0), (b.group(), vb < 0)]
                    position, value = a.end() + len(b.group()), vb
                    while position < len(text):
                        value += step
                        digits = f"{abs(value):.{decimals}f}"
                        for written in (("-" + digits, digits) if value < 0 else (digits,)):
                            if text.startswith(written, position):
                                parts.append((written, value < 0))
                                position += len(written)
                                break
                        else:
                            break
                    if position == len(text) and len(parts) >= min_parts and min(len(p) for p, _ in parts) >= shortest:
                        return parts
    return None


def _round_step(step: float) -> bool:
    """Whether STEP is 1, 2, 2.5 or 5 times a power of ten, as axis ticks step."""
    mantissa = step / 10 ** np.floor(np.log10(step))
    return any(abs(mantissa - m) < 1e-6 for m in (1, 2, 2.5, 5, 10))


def strip_marks(pieces: list[Piece]) -> None:
    """Legend line samples before a label and tick marks after one, read as dashes, are not text;
    the word's confidence is then that of the characters left (a line sample reads unsurely)."""
    for piece in pieces:
        lead = LEGEND_DASH.match(piece.text)
        start = lead.end() if lead else 0
        trail = TICK_DASH.search(piece.text, start)
        end = trail.start() if trail else len(piece.text)
        tail = NUMBER_TAIL.search(piece.text, start, end)
        if tail and not is_number(piece.text[start:end]) and is_number(piece.text[start:tail.start()]):
            end = tail.start()
        if (start, end) != (0, len(piece.text)):
            _trim(piece, start, end)


def strip_frames(pieces: list[Piece]) -> None:
    """A bracket with no partner anywhere in its line is the edge of a node's circle or a box
    around the label ("sample)", "detector)"), not text."""
    lines: dict[int, list[Piece]] = {}
    for piece in pieces:
        lines.setdefault(piece.line, []).append(piece)
    for members in lines.values():
        text = "".join(p.text for p in members)
        for opening, closing in ("()", "[]"):
            if closing in text and opening not in text and members[-1].text.endswith(closing):
                _trim(members[-1], 0, len(members[-1].text) - 1)
            if opening in text and closing not in text and members[0].text.startswith(opening):
                _trim(members[0], 1, len(members[0].text))


def _trim(piece: Piece, start: int, end: int) -> None:
    piece.text = piece.text[start:end]
    if len(piece.char_confidences) >= end and piece.text:
        piece.char_confidences = piece.char_confidences[start:end]
        piece.confidence = word_confidence(piece.char_confidences)


def tidy(pieces: list[Piece], tolerance: float, glyph_confidence: float = 0.9) -> list[Piece]:
    """Only pieces with a letter or digit, or a sign between two words of its line ("ΔT = 1",
    "BJD - 2400000"; a lone sign elsewhere is mostly a legend sample or a tick mark); glyph
    candidates only as aligned numbers or confident words."""
    kept = []
    found = [p for p in pieces if p.source == "detector"]
    numbers = [p for p in pieces if p.source == "glyphs" and not p.angle and is_number(p.text)]
    worded = [any(ch.isalnum() for ch in p.text) for p in pieces]
    for index, piece in enumerate(pieces):
        if not worded[index]:
            if piece.source == "detector" and piece.text and set(piece.text) <= INNER_SIGNS and _between_words(
                    index, pieces, worded):
                kept.append(piece)
            continue
        if piece.source == "glyphs":
            # Aligned with numbers the detector found: a dashed line's dashes, read as "1"s, align
            # with each other, never with an axis.
            row, column = aligned_numbers(piece, found, tolerance)
            number = is_number(piece.text) and max(len(row), len(column)) >= 2
            if not number and is_number(piece.text) and not piece.angle:
                # ... or a row of three or more numbers on one baseline that the detector missed
                # altogether (the shared x-axis of a multi-panel figure: "1", "0", "1", "0"), as
                # long as they are not all the same: dashes of a dashed grid read "1", "1", "1".
                cy = _centre(piece.box)[1]
                mates = [o for o in numbers if abs(_centre(o.box)[1] - cy) < tolerance / 2]
                number = len(mates) >= 3 and len({o.text for o in mates}) >= 2
            word = piece.text.isalpha() and len(piece.text) >= 3 and piece.confidence >= glyph_confidence
            if not (number or word):
                continue
        kept.append(piece)
    return kept


def _between_words(index: int, pieces: list[Piece], worded: list[bool]) -> bool:
    """Whether the piece at INDEX has a piece with a letter or digit before and after it in its
    line (a line's pieces are listed in reading order)."""
    line = pieces[index].line
    before = any(worded[i] for i in range(index) if pieces[i].line == line)
    after = any(worded[i] for i in range(index + 1, len(pieces)) if pieces[i].line == line)
    return before and after


def greek_lookalikes(pieces: list[Piece]) -> None:
    """Symbols the recogniser cannot write, put back: a triangle glued to a word is a capital delta
    ("△mag", "△T": PP-OCRv4 knows U+25B3, not Δ), and a CJK lookalike of a Greek letter is that
    letter where the figure holds no other CJK text. PP-OCRv6 writes the increment sign ∆ (U+2206)
    for the capital delta that TeX and matplotlib set (U+0394): the same glyph."""
    cjk = any("\u3000" <= ch <= "\u9fff" and ch not in GREEK_LOOKALIKES for p in pieces for ch in p.text)
    for piece in pieces:
        text = re.sub(r"△(?=\w)", "Δ", piece.text).replace("∆", "Δ")
        if not cjk:
            text = "".join(GREEK_LOOKALIKES.get(ch, ch) for ch in text)
        piece.text = text



def join_split_words(pieces: list[Piece], text_height: float, max_parts: int = 4) -> list[Piece]:
    """Pieces of one line that together spell a one-letter relation or a decimal number
    (`words.spells_one_word`), split where the recogniser saw a space around the sign or the point ("γ=", "0";
    "λ", "=", "500"; "Z=", "+", "σ"; "0.", "5"), joined into one word, as confident as its least
    sure character. Pieces farther apart than a text height are not joined (two legend columns)."""
    lines: dict[int, list[int]] = {}
    for index, piece in enumerate(pieces):
        lines.setdefault(piece.line, []).append(index)
    replaced: dict[int, Piece | None] = {}
    for members in lines.values():
        line = [pieces[i] for i in members]

        def close(start: int, end: int, line=line) -> bool:
            return all(_along(a, b) <= text_height for a, b in pairwise(line[start:end]))

        for run in split_word_runs([p.text for p in line], max_parts, close):
            if len(run) > 1:
                parts = line[run.start:run.stop]
                replaced[members[run.start]] = _joined(parts, "".join(p.text for p in parts))
                replaced.update({members[i]: None for i in run[1:]})
    return [replaced.get(i, piece) for i, piece in enumerate(pieces) if replaced.get(i, piece) is not None]


def drop_duplicates(pieces: list[Piece], overlap: float = 0.5) -> list[Piece]:
    """Without the second reading of one word: two pieces of the same text whose boxes overlap by
    more than OVERLAP of the smaller box (the detector can return a line twice, in boxes a pixel or
    two apart: "Null", "Null"); the surer one stays."""
    kept: list[Piece] = []
    for piece in sorted(pieces, key=lambda p: -p.confidence):
        if not any(o.text == piece.text and _overlap(o.box, piece.box) > overlap for o in kept):
            kept.append(piece)
    survivors = {id(p) for p in kept}
    return [p for p in pieces if id(p) in survivors]


def _overlap(a, b) -> float:
    """The intersection of boxes A and B as a share of the smaller one."""
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return intersection(a, b) / smaller if smaller > 0 else 0.0


def strip_marker_samples(pieces: list[Piece]) -> list[Piece]:
    """Without the lines that are only copies of one letter ("X X": a legend's marker sample, the
    × markers of a scatter plot read as letters)."""
    lines: dict[int, list[str]] = {}
    for piece in pieces:
        lines.setdefault(piece.line, []).append(piece.text)
    samples = {line for line, texts in lines.items()
               if len(texts) >= 2 and len(set(texts)) == 1 and len(texts[0]) == 1 and texts[0].isalpha()}
    return [p for p in pieces if p.line not in samples]


def _along(first: Piece, second: Piece) -> float:
    """The gap between two pieces of a line, along the line's direction."""
    if first.angle:
        return max(0.0, max(first.box[1], second.box[1]) - min(first.box[3], second.box[3]))
    return max(0.0, max(first.box[0], second.box[0]) - min(first.box[2], second.box[2]))


def _joined(run: list[Piece], text: str) -> Piece:
    chars = tuple(c for p in run for c in p.char_confidences)
    known = len(chars) == len(text)
    return Piece(text, word_confidence(chars) if known else min(p.confidence for p in run),
                 (min(p.box[0] for p in run), min(p.box[1] for p in run),
                  max(p.box[2] for p in run), max(p.box[3] for p in run)),
                 run[0].line, run[0].angle, run[0].source, None, chars if known else ())


def reading_order(pieces: list[Piece], text_height: float) -> list[Piece]:
    """Pieces by line, lines top to bottom then left to right; lines renumbered in that order."""
    band = max(4.0, text_height)
    tops: dict[int, tuple[float, float]] = {}
    for piece in pieces:
        x, y = piece.box[0], piece.box[1]
        top = tops.get(piece.line)
        tops[piece.line] = (min(top[0], y // band), min(top[1], x)) if top else (y // band, x)
    order = {line: rank for rank, line in enumerate(sorted(tops, key=lambda n: tops[n]))}
    for piece in pieces:
        piece.line = order[piece.line]
    return sorted(pieces, key=lambda p: (p.line, p.box[1] if p.angle == 270 else -p.box[3] if p.angle else p.box[0]))
