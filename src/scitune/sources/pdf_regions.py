"""Captions and the regions they describe, on pages read by `pdf_layout`.

A caption is a line that starts with a label (`Figure 3:`, `Fig. 3.`, `FIG. 3.`, `Table 2:`,
`TABLE II`, `Figure S1.`, `Algorithm 1`) and the lines that continue it: below it, in the same
size, overlapping its column, at the caption's own line spacing. A label that goes on from the
running text above it ("… is shown in / Figure 2. Next, …") is no caption. A figure's region is what lies
above its caption (a table's: below, or above when nothing is below), walking away from the caption
through drawing objects and short text while the gaps stay small, and stopping at running text, at
another caption or at a wide gap. The walk stays in the caption's column: the page's width for a
caption that crosses the column gutter, the caption's own width for a caption that shares its
height with another caption or with text beside it (side-by-side minipages, wrapped figures).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from scitune.sources.pdf_layout import Line, Page

CAPTION = re.compile(r"^(?P<kind>Figure|Fig\.|FIG\.|FIGURE|Table|TABLE|Tab\.|Algorithm|ALGORITHM)\s*"
                     r"(?P<number>[A-Z]?\d+|[IVXL]+)(?:\s*[.:|]\s*|\s*$)")
"""A caption's first line; the label ends in '.', ':' or '|', or stands alone on its line."""

FIRST_GAP = 30.0
"""How far (pt) the first element of a region may lie from its caption."""
GAP = 14.0
"""The widest gap (pt) inside one figure or table."""
BODY_GAP = 6.0
"""Running text this far (pt) or further from the region ends it."""


@dataclass
class Caption:
    kind: str  # "Figure", "Table" or "Algorithm"
    number: str
    page: int
    lines: list[Line] = field(default_factory=list)

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (min(line.x0 for line in self.lines), min(line.top for line in self.lines),
                max(line.x1 for line in self.lines), max(line.bottom for line in self.lines))

    @property
    def figure_id(self) -> str:
        return f"{self.kind}{self.number}"


@dataclass
class Region:
    caption: Caption
    box: tuple[float, float, float, float] | None
    inside: list[Line] = field(default_factory=list)  # text lines inside the region (labels, cells)


def caption_kind(label: str) -> str:
    label = label.lower()
    return "Table" if label.startswith("tab") else "Algorithm" if label.startswith("alg") else "Figure"


_INNER = re.compile(r" (?=(?:Figure|Fig\.|FIG\.|FIGURE|Table|TABLE|Algorithm)\s*(?:[A-Z]?\d+|[IVXL]+)\s*[.:|])")


def split_side_by_side(page: Page) -> None:
    """Cut lines that run a caption together with what is printed beside it: two captions set side
    by side (minipages) share lines, cut where the second label starts; a caption beside running
    text (a wrapped figure, or columns whose gutter the line grouping missed) shares lines with that
    text, cut at the caption's left edge. Each cut goes down the lines below while they have a gap
    there, and stops at the first line that runs across it."""
    cuts = []
    upright = [line for line in page.lines if not line.turn]  # captions and columns run across
    for line in upright:
        visible = [c for c in line.chars if not c.text.isspace()]
        ends = [0]
        for char in visible:  # where each character ends in the line's text without spaces
            ends.append(ends[-1] + len(char.text))
        for match in _INNER.finditer(line.text):
            before = len(line.text[:match.end()].replace(" ", ""))  # a ligature is one character, two letters
            index = ends.index(before) if before in ends else 0
            if 0 < index < len(visible) and visible[index].x0 - visible[index - 1].x1 >= 0.8 * line.size:
                cuts.append((visible[index].x0 - 0.1, line.baseline, line.size, 0.6))
        if CAPTION.match(line.text):
            cuts.append((line.x0 - 0.1, line.baseline, line.size, 0.8))
    for x, baseline, size, widest in cuts:
        for line in sorted((line for line in page.lines if not line.turn), key=lambda line: line.baseline):
            if line.baseline < baseline - 0.5 * size or not line.x0 < x < line.x1:
                continue
            if line.baseline > baseline + 40 * size:
                break
            gap = line.gap_near(x, 2 * size)
            if gap is None or gap[1] < widest * size:
                if line.baseline > baseline + 0.5 * size:
                    break  # a line across the cut: what was beside the caption has ended
                continue
            parts = line.split_at(gap[0] + gap[1] / 2)
            if parts:
                page.lines.remove(line)
                page.lines.extend(parts)


def continues_text(line: Line, lines: list[Line]) -> bool:
    """A line that starts with a label ('Figure 2. Next we …') but goes on from the line of running
    text just above it, in its size, at its line spacing, without the end of a sentence between."""
    for above in lines:
        if not 0 < line.baseline - above.baseline <= 1.4 * line.size or abs(above.size - line.size) > 0.6:
            continue
        indent = above.x0 - line.x0  # the line above may open its paragraph, indented
        if above.x0 < line.x1 and above.x1 > line.x0 and above.words >= 5 and -line.size <= indent <= 2 * line.size \
                and not re.search(r"[.!?:][)\]'’”]*$", above.text):
            return True
    return False


def find_captions(page: Page) -> list[Caption]:
    """Every caption on PAGE with all of its lines."""
    split_side_by_side(page)
    # A caption runs across; a rotated line's baseline is an x, which the steps below would misread.
    ordered = sorted((line for line in page.lines if not line.turn), key=lambda line: (line.top, line.x0))
    labels = {id(line) for line in ordered if CAPTION.match(line.text) and not continues_text(line, ordered)}
    used: set[int] = set()
    captions = []
    for line in ordered:
        if id(line) not in labels or id(line) in used:
            continue
        match = CAPTION.match(line.text)
        caption = Caption(caption_kind(match["kind"]), match["number"], page.number, [line])
        used.add(id(line))
        alone = not line.text[match.end():].strip()
        while True:
            last = caption.lines[-1]
            left, right = min(c.x0 for c in caption.lines), max(c.x1 for c in caption.lines)
            step = (2.2 if alone and len(caption.lines) == 1 else 1.7) * last.size
            following = [c for c in ordered if id(c) not in used and 0 < c.baseline - last.baseline <= step
                         and abs(c.size - line.size) <= 0.6 and c.x0 < right + 2 and c.x1 > left - 2
                         and c.x0 >= left - 3 * line.size and id(c) not in labels]
            if not following:
                note = _note_line(caption, ordered, used, labels, line.size, left)
                if note is None:
                    break
                caption.lines.append(note)
                used.add(id(note))
                continue
            row = min(c.baseline for c in following)
            parts = sorted((c for c in following if abs(c.baseline - row) < 0.3 * line.size), key=lambda c: c.x0)
            caption.lines.extend(parts)
            used.update(id(c) for c in parts)
        captions.append(caption)
    return captions


def _note_line(caption: Caption, ordered: list[Line], used: set[int], labels: set[int], size: float,
               left: float) -> Line | None:
    """The next line of a note set in smaller type under a caption that announces it with a colon
    ('… can be found in the following websites:' then a list of sources in \\footnotesize): one
    line to a row, at the caption's left edge and line spacing, all the note in one size. A table's
    rows in small type are cells side by side, not one line, and so are not taken."""
    last = caption.lines[-1]
    in_note = last.size < size - 0.6
    if not in_note and not re.search(r":\s*$", last.text):
        return None
    below = [c for c in ordered if id(c) not in used and id(c) not in labels
             and 0 < c.baseline - last.baseline <= 1.7 * max(c.size, last.size)]
    if not below:
        return None
    row = min(c.baseline for c in below)
    parts = [c for c in below if abs(c.baseline - row) < 0.3 * size]
    if len(parts) != 1:
        return None
    line = parts[0]
    same_note = abs(line.size - last.size) <= 0.3 if in_note else 0.7 * size <= line.size < size - 0.6
    return line if same_note and abs(line.x0 - left) <= size else None


def caption_text(caption: Caption, vocabulary: set[str] | None = None) -> str:
    from scitune.sources.pdf_layout import dehyphenate

    rows: list[list[Line]] = []
    for line in caption.lines:  # lines on one baseline (split by a wide gap) read left to right
        if rows and abs(rows[-1][0].baseline - line.baseline) < 0.3 * line.size:
            rows[-1].append(line)
        else:
            rows.append([line])
    return dehyphenate([" ".join(p.text for p in sorted(row, key=lambda p: p.x0)) for row in rows], vocabulary)


def is_body(line: Line, body_size: float, span: float) -> bool:
    """Running text: body-size type, several words, most of the column wide."""
    return abs(line.size - body_size) <= 0.6 and line.words >= 6 and line.x1 - line.x0 >= 0.6 * span


def column_of(caption: Caption, page: Page, captions: list[Caption], body_size: float) -> tuple[float, float]:
    x0, top, x1, bottom = caption.box
    left = min((line.x0 for line in page.lines), default=0.0)
    right = max((line.x1 for line in page.lines), default=page.width)
    gutter = page.gutter
    if gutter is None or (x0 < gutter[0] and x1 > gutter[1]):
        column = (left, right)
    elif x1 <= gutter[1]:
        column = (left, gutter[0])
    else:
        column = (gutter[1], right)
    # Another caption or running text beside this one: the figure is as wide as its caption. Two
    # captions side by side need not share a line (one is a line longer): a line's height apart counts.
    near = caption.lines[0].size
    beside = [c for c in captions if c is not caption and c.box[1] < bottom + near and c.box[3] > top - near
              and (c.box[2] < x0 or c.box[0] > x1)]
    text_beside = [line for line in page.lines if line.top < bottom and line.bottom > top
                   and column[0] - 1 <= line.x0 and line.x1 <= column[1] + 1 and (line.x1 < x0 - 4 or line.x0 > x1 + 4)
                   and is_body(line, body_size, 0)]
    if beside or text_beside:
        slack = 0.5 * (x1 - x0) * 0.1 + 6
        column = (x0 - slack, x1 + slack)
    return column


def _walk(start: float, direction: int, elements: list[tuple[tuple, Line | None]], body_size: float,
          span: float, stop_lines: set[int]) -> list[tuple[tuple, Line | None]]:
    """Elements met going up (-1) or down (+1) from START while the gaps stay small."""
    # A drawing's bounds may reach a point or two past the caption's top (a plot's white margin).
    def slack(element) -> float:
        return 3.0 if element[1] is None else 1.0

    if direction < 0:
        ordered = sorted((e for e in elements if e[0][3] <= start + slack(e)), key=lambda e: -e[0][3])
    else:
        ordered = sorted((e for e in elements if e[0][1] >= start - slack(e)), key=lambda e: e[0][1])
    taken: list[tuple[tuple, Line | None]] = []
    edge = start
    for box, line in ordered:
        gap = (edge - box[3]) if direction < 0 else (box[1] - edge)
        if line is not None and id(line) in stop_lines:
            break
        if gap > (FIRST_GAP if not taken else GAP):
            break
        if line is not None and is_body(line, body_size, span):
            if gap > BODY_GAP or not taken:
                break
            if direction < 0 and _ends_paragraph(taken[-1][1], line, body_size):
                taken.pop()  # the short last line of the paragraph above the figure, not a label in it
                break
        taken.append((box, line))
        edge = min(edge, box[1]) if direction < 0 else max(edge, box[3])
    return taken


def _ends_paragraph(last: Line | None, above: Line, body_size: float) -> bool:
    """LAST, just under the running-text line ABOVE, is its paragraph's closing line: body type, the
    same left edge, a sentence's end."""
    return last is not None and abs(last.size - body_size) <= 0.6 and abs(last.x0 - above.x0) <= 1 \
        and re.search(r"[.!?][)\]'’”]*$", last.text) is not None


def find_regions(page: Page, body_size: float) -> list[Region]:
    """Each caption of PAGE with the box of the figure or table it describes (None when nothing
    lies next to it)."""
    captions = find_captions(page)
    caption_lines = {id(line) for c in captions for line in c.lines}
    regions = []
    for caption in captions:
        column = column_of(caption, page, captions, body_size)
        span = column[1] - column[0]

        def within(box, column=column):
            middle = (box[0] + box[2]) / 2
            overlap = min(box[2], column[1]) - max(box[0], column[0])
            return column[0] - 2 <= middle <= column[1] + 2 and overlap >= 0.5 * (box[2] - box[0])

        elements = [(box, None) for box in page.objects if within(box)]
        elements += [(line.box, line) for line in page.lines if id(line) not in caption_lines
                     and id(line) not in page.furniture and within(line.box)]
        others = {id(line) for c in captions if c is not caption for line in c.lines}
        elements += [(line.box, line) for c in captions if c is not caption for line in c.lines if within(line.box)]
        x0, top, x1, bottom = caption.box
        above = _walk(top, -1, elements, body_size, span, others)
        below = _walk(bottom, +1, elements, body_size, span, others)
        first, second = (below, above) if caption.kind == "Table" else (above, below)
        # A fraction bar or a rule in the running text is a path too, but no drawing.
        drawn = [any(line is None and min(box[2] - box[0], box[3] - box[1]) >= body_size for box, line in side)
                 for side in (first, second)]
        if len(second) >= 4 * len(first) and not (drawn[0] and not drawn[1]):
            # The float's content is on the other side (a table captioned underneath): what lies on
            # the usual side is a heading, a block of notes or the end of a paragraph. Not when only the
            # usual side has drawings: the many lines on the other are running text.
            first, second = second, first
        taken = first if any(line is None or not is_body(line, body_size, span) for _, line in first) else second
        if not taken and first:
            taken = first
        if not taken:
            regions.append(Region(caption, None))
            continue
        box = (min(b[0] for b, _ in taken), min(b[1] for b, _ in taken),
               max(b[2] for b, _ in taken), max(b[3] for b, _ in taken))
        gutter = page.gutter
        if gutter is not None and x1 <= gutter[1]:  # a column's figure ends at the gutter (paths' bounds may not)
            box = (box[0], box[1], min(box[2], gutter[0] + 2), box[3])
        elif gutter is not None and x0 >= gutter[0]:
            box = (max(box[0], gutter[1] - 2), box[1], box[2], box[3])
        # Kept 2 pt clear of the caption: the crop pads by 2 pt, which would show the caption's first letters.
        if box[3] <= top + 3:
            box = (box[0], box[1], box[2], min(box[3], top - 2))
        elif box[1] >= bottom - 3:
            box = (box[0], max(box[1], bottom + 2), box[2], box[3])
        regions.append(Region(caption, box, [line for _, line in taken if line is not None]))
    return regions
