"""Captions and the regions they describe, on pages read by `pdf_layout`.

A caption is a line that starts with a label (`Figure 3:`, `Fig. 3.`, `FIG. 3.`, `Table 2:`,
`TABLE II`, `Figure S1.`, `Algorithm 1`) and the lines that continue it: below it, in the same
size, overlapping its column, at the caption's own line spacing. A figure's region is what lies
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
    """Two captions set side by side (minipages) print on shared lines: cut each such line, and the
    lines below it, at the gap where the second caption starts."""
    cuts = []
    for line in list(page.lines):
        for match in _INNER.finditer(line.text):
            visible = [c for c in line.chars if not c.text.isspace()]
            index = len(line.text[:match.end()].replace(" ", ""))
            if 0 < index < len(visible) and visible[index].x0 - visible[index - 1].x1 >= 0.8 * line.size:
                cuts.append((visible[index].x0 - 0.1, line.baseline, line.size))
    for x, baseline, size in cuts:
        for line in list(page.lines):
            if not (baseline - 0.5 * size <= line.baseline <= baseline + 12 * size and line.x0 < x < line.x1):
                continue
            gap = line.gap_near(x, 2 * size)
            if gap is None or gap[1] < 0.6 * size:
                continue
            parts = line.split_at(gap[0] + gap[1] / 2)
            if parts:
                page.lines.remove(line)
                page.lines.extend(parts)


def find_captions(page: Page) -> list[Caption]:
    """Every caption on PAGE with all of its lines."""
    split_side_by_side(page)
    ordered = sorted(page.lines, key=lambda line: (line.top, line.x0))
    used: set[int] = set()
    captions = []
    for line in ordered:
        match = CAPTION.match(line.text)
        if not match or id(line) in used:
            continue
        caption = Caption(caption_kind(match["kind"]), match["number"], page.number, [line])
        used.add(id(line))
        alone = not line.text[match.end():].strip()
        while True:
            last = caption.lines[-1]
            left, right = min(c.x0 for c in caption.lines), max(c.x1 for c in caption.lines)
            step = (2.2 if alone and len(caption.lines) == 1 else 1.7) * last.size
            following = [c for c in ordered if id(c) not in used and 0 < c.baseline - last.baseline <= step
                         and abs(c.size - line.size) <= 0.6 and c.x0 < right + 2 and c.x1 > left - 2
                         and c.x0 >= left - 3 * line.size and not CAPTION.match(c.text)]
            if not following:
                break
            row = min(c.baseline for c in following)
            parts = sorted((c for c in following if abs(c.baseline - row) < 0.3 * line.size), key=lambda c: c.x0)
            caption.lines.extend(parts)
            used.update(id(c) for c in parts)
        captions.append(caption)
    return captions


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
    # Another caption or running text beside this one: the figure is as wide as its caption.
    beside = [c for c in captions if c is not caption and c.box[1] < bottom and c.box[3] > top
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
    if direction < 0:
        ordered = sorted((e for e in elements if e[0][3] <= start + 1), key=lambda e: -e[0][3])
    else:
        ordered = sorted((e for e in elements if e[0][1] >= start - 1), key=lambda e: e[0][1])
    taken: list[tuple[tuple, Line | None]] = []
    edge = start
    for box, line in ordered:
        gap = (edge - box[3]) if direction < 0 else (box[1] - edge)
        if line is not None and id(line) in stop_lines:
            break
        if gap > (FIRST_GAP if not taken else GAP):
            break
        if line is not None and is_body(line, body_size, span) and (gap > BODY_GAP or not taken):
            break
        taken.append((box, line))
        edge = min(edge, box[1]) if direction < 0 else max(edge, box[3])
    return taken


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
        elements += [(line.box, line) for line in page.lines if id(line) not in caption_lines and within(line.box)]
        others = {id(line) for c in captions if c is not caption for line in c.lines}
        elements += [(line.box, line) for c in captions if c is not caption for line in c.lines if within(line.box)]
        x0, top, x1, bottom = caption.box
        above = _walk(top, -1, elements, body_size, span, others)
        below = _walk(bottom, +1, elements, body_size, span, others)
        first, second = (below, above) if caption.kind == "Table" else (above, below)
        taken = first if any(line is None or not is_body(line, body_size, span) for _, line in first) else second
        if not taken and first:
            taken = first
        if not taken:
            regions.append(Region(caption, None))
            continue
        box = (min(b[0] for b, _ in taken), min(b[1] for b, _ in taken),
               max(b[2] for b, _ in taken), max(b[3] for b, _ in taken))
        regions.append(Region(caption, box, [line for _, line in taken if line is not None]))
    return regions
