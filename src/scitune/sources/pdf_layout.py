"""A PDF page as lines of text and drawing objects, in top-down points (pypdfium2).

Text comes from pdfium's text page, character by character with its box and font size: pdfium maps
glyphs through the font's ToUnicode table and its encodings (no `(cid:30)` for a ligature; ﬁ/ﬂ are
unfolded to fi/fl here), and marks a hyphen that ends a line; what it still misreads (TeX math
fonts without a map, accents set as glyphs of their own) is read as printed by `pdf_glyphs`. Words are
cut where the gap between two characters is wider than a fraction of the font size, so
"reparametrization of the" never reads "reparametrizationofthe" whatever spaces the PDF holds, and
where the PDF put a space character of its own: a figure scaled down into the page keeps its font
sizes (28 pt type printed 8 pt high), so its word gaps are far below a fraction of that size. Lines
are characters that share a baseline band without a column-wide gap between them; sub- and
superscripts join their line. Rotated text (a y-axis label, tick labels set at 45°) makes lines of its
own along its baseline, read in its direction, not one line per letter. Review-copy line numbers are
dropped, also where they sit close to a line's text.

Drawing objects are the page's top-level paths, images, shadings and forms (a form is one object:
its bounds are the figure's); text objects are left to the lines.
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass, field
from itertools import pairwise

from scitune.sources.pdf_glyphs import bakoma_char, font_table, join_accents, may_be_raw, may_be_shifted

_LIGATURES = {"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl", "\ufb05": "st",
              "\ufb06": "st", "\ufffe": "-", "\u00ad": "-", "\u2010": "-", "\u2011": "-",
              "\u2206": "\u0394"}  # INCREMENT: the glyph list's other reading of "Delta" (pdf_glyphs)
WORD_GAP = 0.1
"""A gap wider than this many font sizes between two characters separates words."""
SCRIPT_GAP = 0.2
"""WORD_GAP where one of the two characters is a sub- or superscript (`_word_gap`)."""
COLUMN_GAP = 3.0
"""A gap wider than this many font sizes separates two lines (table cells, figure labels); a gap
across the page's column gutter separates them from 0.8 font sizes on."""


@dataclass
class Char:
    text: str
    x0: float
    top: float
    x1: float
    bottom: float
    size: float
    baseline: float  # rotated text: where its baseline lies across the reading direction
    turn: float = 0.0  # rotated text: pdfium's angle (radians, clockwise; 3π/2 reads upward)
    along: float = 0.0  # rotated text: where its origin lies along the reading direction
    space_before: bool = False  # the PDF put a space character before it


@dataclass
class Line:
    """Characters on one baseline band, left to right (rotated text: along its baseline, in its
    reading direction)."""

    chars: list[Char]
    x0: float = 0.0
    top: float = 0.0
    x1: float = 0.0
    bottom: float = 0.0
    size: float = 0.0
    baseline: float = 0.0
    text: str = ""
    words: int = 0
    turn: float = 0.0
    # Its characters word by word, as `finish` found them (kept: the scripts rule and the figure
    # readers ask again).
    word_groups: list[list[Char]] = field(default_factory=list, repr=False)

    def finish(self) -> Line:
        self.turn = self.chars[0].turn
        self.chars.sort(key=lambda c: c.along if self.turn else c.x0)
        self.x0 = min(c.x0 for c in self.chars)
        self.x1 = max(c.x1 for c in self.chars)
        # The band of the main characters: a tall bracket or a superscript does not widen it.
        self.size = statistics.median(c.size for c in self.chars)
        core = [c for c in self.chars if abs(c.size - self.size) < 0.5] or self.chars
        self.baseline = statistics.median(c.baseline for c in core)
        self.top = min(c.top for c in (core if not self.turn else self.chars))
        self.bottom = max(c.bottom for c in (core if not self.turn else self.chars))
        self.word_groups = self._word_chars()
        self.text = " ".join("".join(c.text for c in word) for word in self.word_groups).strip()
        self.words = len(self.text.split())
        return self

    def _word_chars(self) -> list[list[Char]]:
        """The line's characters (in reading order, as `finish` sorts them) word by word."""
        words: list[list[Char]] = []
        previous = None
        for char in self.chars:
            if char.text.isspace():
                continue
            gap = _gap(previous, char) if previous is not None else None
            if gap is not None and not char.turn:
                # From the word's right edge: a subscript under a superscript (wφ*) can reach further.
                gap = char.x0 - max(c.x1 for c in words[-1][-3:])
            if previous is None or (gap is not None and gap > _word_gap(previous, char)
                                    or char.space_before and (gap is None or gap > 0)):
                words.append([])
            words[-1].append(char)
            previous = char
        return words

    @property
    def box(self) -> tuple[float, float, float, float]:
        return self.x0, self.top, self.x1, self.bottom

    def split_at(self, x: float) -> tuple[Line, Line] | None:
        """The characters left and right of X as two lines (None when one side would be empty)."""
        left = [c for c in self.chars if (c.x0 + c.x1) / 2 < x]
        right = [c for c in self.chars if (c.x0 + c.x1) / 2 >= x]
        if not [c for c in left if not c.text.isspace()] or not [c for c in right if not c.text.isspace()]:
            return None
        return Line(left).finish(), Line(right).finish()

    def gap_near(self, x: float, reach: float) -> tuple[float, float] | None:
        """The widest gap between characters within REACH of X: (where it starts, its width)."""
        visible = [c for c in self.chars if not c.text.isspace()]
        gaps = [(a.x1, b.x0 - a.x1) for a, b in pairwise(visible) if abs((a.x1 + b.x0) / 2 - x) <= reach]
        return max(gaps, key=lambda g: g[1]) if gaps else None

    @property
    def middle(self) -> float:
        return (self.top + self.bottom) / 2


def _word_gap(previous: Char, char: Char) -> float:
    """The widest gap between two characters of one word. Into or out of a sub- or superscript
    (a baseline apart, or a size smaller) TeX adds the script space and the italic correction, a fifth of the size at
    small type ("θf )" set as ℒf(θf), "λ ∗" as λ*): twice the usual, still under a word space."""
    size = max(char.size, previous.size)
    script = abs(char.baseline - previous.baseline) > 0.1 * size or size > 1.3 * min(char.size, previous.size)
    return (SCRIPT_GAP if script else WORD_GAP) * size


def _gap(previous: Char, char: Char) -> float | None:
    """The space between two characters that follow each other in reading order; None for text
    turned other than by a quarter (its boxes are the upright boxes around slanted glyphs, which
    overlap: only the PDF's own spaces part its words)."""
    if not char.turn:
        return char.x0 - previous.x1
    if char.turn == UPWARD:
        return previous.top - char.bottom
    if char.turn == DOWNWARD:
        return char.top - previous.bottom
    return None


_SQUARE = 0.02
"""Radians within which a rotation counts as a quarter turn, or as none (`_turn`)."""
UPWARD, DOWNWARD = 3 * math.pi / 2, math.pi / 2
"""pdfium's angles of text turned a quarter to read upward (a y-axis label) and downward."""


@dataclass
class Page:
    number: int
    width: float
    height: float
    lines: list[Line] = field(default_factory=list)
    objects: list[tuple[float, float, float, float]] = field(default_factory=list)
    images: list[tuple[float, float, float, float]] = field(default_factory=list)
    chars: int = 0
    gutter: tuple[float, float] | None = None
    furniture: set[int] = field(default_factory=set)  # ids of running heads and page numbers


def mark_running_heads(pages: list[Page]) -> None:
    """Running heads and page numbers: lines in the top or bottom margin that recur at one height on
    a third of the pages or more, the same words (a head's page number aside) or a number that
    counts with the pages. A figure at the top of a page is then not cropped with the head above it,
    while its own tick labels there ('0.25', '16') are not taken for heads."""
    if len(pages) < 3:
        return

    def key(page: Page, line: Line) -> tuple | None:
        if not (line.bottom < 0.09 * page.height or line.top > 0.93 * page.height):
            return None
        text = line.text.strip()
        if text.isdigit():
            return round(line.top / 3), "page", int(text) - page.number
        words = re.sub(r"[^a-z]+", " ", text.lower()).split()
        return (round(line.top / 3), " ".join(words)) if words else None

    counts: dict[tuple, int] = {}
    for page in pages:
        for found in {key(page, line) for line in page.lines} - {None}:
            counts[found] = counts.get(found, 0) + 1
    needed = max(3, len(pages) // 3)
    for page in pages:
        page.furniture = {id(line) for line in page.lines if counts.get(key(page, line), 0) >= needed}


def page_chars(textpage, height: float) -> list[Char]:
    """Every character pdfium reads on the page, top-down coordinates, ligatures unfolded.

    Horizontal extents are the characters' advance boxes (pdfium's loose boxes), so the gap between
    two characters is the space the PDF put between them, not the glyphs' side bearings; vertical
    extents are the glyphs' ink, so a region ends where its ink ends (for rotated text the other way
    round). Sizes are as printed: the font size times the scale of the character's matrix."""
    import ctypes

    import pypdfium2.raw as raw

    chars = []
    origin_x, origin_y = ctypes.c_double(), ctypes.c_double()
    font, flags = ctypes.create_string_buffer(128), ctypes.c_int()
    matrix = raw.FS_MATRIX()
    spaced = False  # a space character of the PDF's own came since the last visible character
    for index in range(textpage.count_chars()):
        if raw.FPDFText_IsGenerated(textpage, index) == 1:
            continue  # pdfium's own guesses at spaces and line ends; gaps are measured instead
        code = raw.FPDFText_GetUnicode(textpage, index)
        if code == 2:  # pdfium's mark for a hyphen that ends a line
            code = 0x2D
        text = None
        if (may_be_raw(code) or may_be_shifted(code)) \
                and raw.FPDFText_GetFontInfo(textpage, index, font, len(font), ctypes.byref(flags)):
            name = font.value.decode("latin-1")
            if may_be_raw(code):
                table = font_table(name)
                text = table.get(code) if table else None
            else:
                text = bakoma_char(name, code)
        if text is None and (code in (0, 0x0D, 0x0A, 0xFFFF) or code > 0x10FFFF):
            continue
        text = text or _LIGATURES.get(chr(code), chr(code))
        try:
            x0, y0, x1, y1 = textpage.get_charbox(index, loose=False)
            lx0, ly0, lx1, ly1 = textpage.get_charbox(index, loose=True)
        except Exception:  # a character without a box (pdfium raises a bare error) has no place
            continue
        size = raw.FPDFText_GetFontSize(textpage, index) or (y1 - y0)
        if raw.FPDFText_GetMatrix(textpage, index, matrix):
            # The size in the font's own units times the scale it is drawn at: a plot scaled into the
            # page keeps its 28 pt labels (printed 7 pt high), a producer may set 1 pt type scaled by 9.
            size *= math.sqrt(abs(matrix.a * matrix.d - matrix.b * matrix.c)) or 1.0
        turn = _turn(raw.FPDFText_GetCharAngle(textpage, index))
        if not raw.FPDFText_GetCharOrigin(textpage, index, origin_x, origin_y):
            origin_x.value, origin_y.value = x0, y0
        along = 0.0
        if turn:
            if turn in (UPWARD, DOWNWARD) and ly1 > ly0:  # the advance runs along y: the loose y-extent
                y0, y1 = ly0, ly1
            # Page coordinates run up here; pdfium's angle turns clockwise.
            along = origin_x.value * math.cos(turn) - origin_y.value * math.sin(turn)
            baseline = origin_x.value * math.sin(turn) + origin_y.value * math.cos(turn)
        else:
            if lx1 > lx0:
                x0, x1 = lx0, lx1
            elif x1 <= x0 and not text.isspace():
                x1 = x0 + 0.3 * size
            baseline = height - origin_y.value
        if text.isspace():
            spaced = True
        chars.append(Char(text, x0, height - y1, x1, height - y0, float(size), baseline, turn, along,
                          spaced and not text.isspace()))
        if not text.isspace():
            spaced = False
    return join_accents(chars)


def _turn(angle: float) -> float:
    """pdfium's angle of a character (radians, clockwise, in [0, 2π); -1 when unknown), 0 for upright."""
    if angle < _SQUARE or angle > 2 * math.pi - _SQUARE:
        return 0.0
    for quarter in (UPWARD, DOWNWARD):  # a quarter turn exactly, whatever float noise
        if abs(angle - quarter) < _SQUARE:
            return quarter
    return angle


def find_gutter(chars: list[Char], width: float) -> tuple[float, float] | None:
    """The x-range between two text columns: the widest strip in the middle third of the page that
    (almost) no character covers, at least 6 pt wide; None on a one-column page."""
    if len(chars) < 200:
        return None
    bins = [0] * (int(width) + 2)
    for char in chars:
        for x in range(max(0, int(char.x0)), min(len(bins), int(char.x1) + 1)):
            bins[x] += 1
    limit = 0.004 * len(chars)
    best, start = None, None
    for x in range(int(width / 3), int(2 * width / 3) + 1):
        if bins[x] <= limit:
            start = x if start is None else start
            if best is None or x - start > best[1] - best[0]:
                best = (start, x)
        else:
            start = None
    if best is None or best[1] - best[0] < 6:
        return None
    return float(best[0]), float(best[1] + 1)


def make_lines(chars: list[Char], gutter: tuple[float, float] | None = None) -> list[Line]:
    """Characters grouped into lines: those on one baseline (within a fifth of their size), left to
    right, cut at the column GUTTER and where a gap is wider than COLUMN_GAP font sizes."""
    visible = sorted((c for c in chars if not c.text.isspace() and c.size > 0), key=lambda c: c.baseline)
    rows: list[list[Char]] = []
    for char in (c for c in visible if not c.turn):
        # A row is one size of type too: labels of two sizes on near baselines (a graph's node numbers
        # and its edge weights' subscripts) are two rows; a script rejoins its base in _merge_scripts.
        row = next((row for row in reversed(rows[-3:])
                    if abs(char.baseline - row[0].baseline) <= 0.2 * max(char.size, row[0].size)
                    and max(char.size, row[0].size) <= 1.3 * min(char.size, row[0].size)), None)
        if row is not None:
            row.append(char)
        else:
            rows.append([char])
    lines: list[Line] = []
    for row in rows:
        row.sort(key=lambda c: c.x0)
        current = [row[0]]
        for char in row[1:]:
            end = max(c.x1 for c in current[-3:])
            # The gutter is where (almost) no character is, so the columns' edges may reach into it:
            # a gap across its middle is a gap between columns.
            crosses = gutter is not None and end <= (gutter[0] + gutter[1]) / 2 <= char.x0
            if crosses and char.x0 - end > 0.8 * max(char.size, current[-1].size) \
                    or char.x0 - end > COLUMN_GAP * max(char.size, current[-1].size):
                lines.append(Line(current).finish())
                current = []
            current.append(char)
        lines.append(Line(current).finish())
    return _merge_scripts(lines) + _rotated_lines([c for c in visible if c.turn])


def _rotated_lines(chars: list[Char]) -> list[Line]:
    """Lines of rotated text: characters of one angle on one baseline, cut where the step from one
    origin to the next along it is longer than COLUMN_GAP font sizes."""
    rows: list[list[Char]] = []
    for char in sorted(chars, key=lambda c: (c.turn, c.baseline)):
        last = rows[-1][0] if rows else None
        if last is not None and last.turn == char.turn \
                and abs(char.baseline - last.baseline) <= 0.2 * max(char.size, last.size):
            rows[-1].append(char)
        else:
            rows.append([char])
    lines = []
    for row in rows:
        row.sort(key=lambda c: c.along)
        current = [row[0]]
        for char in row[1:]:
            if char.along - current[-1].along > (COLUMN_GAP + 1) * max(char.size, current[-1].size):
                lines.append(Line(current).finish())
                current = []
            current.append(char)
        lines.append(Line(current).finish())
    merged = []
    for turn in sorted({line.turn for line in lines}):
        group = [line for line in lines if line.turn == turn]
        merged += _merge_turned_scripts(group) if turn in (UPWARD, DOWNWARD) else group
    return merged


def _merge_turned_scripts(lines: list[Line]) -> list[Line]:
    """`_merge_scripts` for lines turned a quarter (a y-axis label's "ppm²", a prime on a rotated
    y′): each character stands in upright, its extent along the line as x and its baseline mirrored
    (a superscript moves towards the glyphs' top), and the lines found are made of the originals."""
    upward = lines[0].turn == UPWARD
    original: dict[int, Char] = {}
    proxies = []
    for line in lines:
        chars = []
        for c in line.chars:
            x0, x1 = (-c.bottom, -c.top) if upward else (c.top, c.bottom)
            proxy = Char(c.text, x0, -c.baseline - c.size, x1, -c.baseline, c.size, -c.baseline,
                         space_before=c.space_before)
            original[id(proxy)] = c
            chars.append(proxy)
        proxies.append(Line(chars).finish())
    return [Line([original[id(c)] for c in line.chars]).finish() for line in _merge_scripts(proxies)]


def _merge_scripts(lines: list[Line]) -> list[Line]:
    """Sub- and superscripts set in a smaller size (so on baselines of their own) rejoin the line
    they belong to: a larger-type line whose baseline is at most 0.6 of its size below (superscript)
    or 0.35 above (subscript) theirs, and whose characters they touch."""
    # Scripts of labels side by side (w(2,6) + w(3,7), set small; the exponents of a row of 2^10
    # 2^12 ticks) share a baseline and can form one line: its words, an em or more apart, each look
    # for their own base; those left over are put together again.
    origin: dict[int, Line] = {}
    parts = []
    for line in lines:
        for part in _apart_words(line):
            origin[id(part)] = line
            parts.append(part)
    lines = parts
    merged: dict[int, Line] = {}
    for line in lines:
        if line.words > 3:
            continue
        best, best_offset = None, None
        for host in lines:
            if host is line or id(host) in merged:
                continue
            offset = line.baseline - host.baseline  # negative: above the host's baseline
            if not -0.6 * host.size <= offset <= 0.5 * host.size or offset == 0:
                continue
            if line.x0 > host.x1 + 0.5 * host.size or line.x1 < host.x0 - 0.5 * host.size:
                continue
            # A script is set smaller; where the PDF gives it its base's size (a TikZ label scaled
            # as a whole), it still starts where its base ends, and may sit lower.
            attached = host.size < 1.3 * line.size and any(abs(line.x0 - c.x1) <= 0.15 * host.size for c in host.chars)
            if host.size < 1.15 * line.size and not attached or offset > (0.5 if attached else 0.35) * host.size:
                continue
            touching = any(c.x0 - 0.5 * host.size <= line.x0 <= c.x1 + 0.5 * host.size for c in host.chars)
            if touching and (best_offset is None or abs(offset) < abs(best_offset)):
                best, best_offset = host, offset
        if best is not None:
            best.chars.extend(line.chars)
            merged[id(line)] = best
    for host in {id(h): h for h in merged.values()}.values():
        host.finish()
    kept: dict[int, list[Line]] = {}
    for part in lines:
        if id(part) not in merged:
            kept.setdefault(id(origin[id(part)]), []).append(part)
    result = []
    for group in kept.values():
        whole = origin[id(group[0])]
        if group == [whole]:
            result.append(whole)
        else:  # the words no base took, as one line again
            result.append(Line([c for part in group for c in part.chars]).finish())
    return result


def _apart_words(line: Line) -> list[Line]:
    """LINE, or its words as lines of their own when it has two or more, each an em or more from the
    next (labels, not a phrase)."""
    if line.words < 2:
        return [line]
    words = line.word_groups
    if any(b[0].x0 - a[-1].x1 < max(a[-1].size, b[0].size) for a, b in pairwise(words)):
        return [line]
    return [Line(word).finish() for word in words]


def read_page(document, number: int) -> Page:
    """Page NUMBER (1-based) of a pypdfium2 document as lines and drawing objects."""
    import pypdfium2.raw as raw

    page = document[number - 1]
    width, height = page.get_size()
    textpage = page.get_textpage()
    chars = page_chars(textpage, height)
    gutter = find_gutter(chars, float(width))
    lines = make_lines(chars, gutter)
    rulers = ruler_ranges(lines)
    if rulers:  # review-copy line numbers, also where one sits against a line of text
        chars = [c for c in chars if not (c.text.isdigit() and any(r0 - 1 <= (c.x0 + c.x1) / 2 <= r1 + 1
                                                                    for r0, r1 in rulers))]
        lines = make_lines(chars, gutter)
    result = Page(number, float(width), float(height), lines, chars=len(chars), gutter=gutter)
    drawing = (raw.FPDF_PAGEOBJ_PATH, raw.FPDF_PAGEOBJ_IMAGE, raw.FPDF_PAGEOBJ_SHADING, raw.FPDF_PAGEOBJ_FORM)
    for obj in page.get_objects(max_depth=0):
        if obj.type not in drawing:
            continue
        left, bottom, right, top = obj.get_bounds()
        box = (max(0.0, left), max(0.0, height - top), min(width, right), min(height, height - bottom))
        if box[2] - box[0] < 0.1 and box[3] - box[1] < 0.1:
            continue
        if obj.type == raw.FPDF_PAGEOBJ_FORM and box[3] - box[1] >= 0.9 * height:
            result.objects += ink_blocks(page, box, lines, float(height))
            continue
        if (box[2] - box[0]) * (box[3] - box[1]) > 0.9 * width * height:
            continue  # a page background, not a figure
        result.objects.append(box)
        if obj.type == raw.FPDF_PAGEOBJ_IMAGE:
            result.images.append(box)
    textpage.close()
    page.close()
    return result


def ink_blocks(page, box: tuple[float, float, float, float], lines: list[Line], height: float,
               gap: float = 6.0) -> list[tuple[float, float, float, float]]:
    """Where a form that claims the whole page height really draws: the blocks of ink inside BOX,
    text left out, split at blank bands of GAP points or more (none for a blank page background).

    Why: a figure included as a PDF page keeps its media box; pdfium reports that box, not the
    form's clip, so its bounds run off the page (Kepler paper, Figures 9 and 11) and give no figure
    region. Text is masked because the running text above and below is text, and the plot's own
    labels are found again as lines beside the ink."""
    from PIL import ImageDraw

    scale = 2.0
    image = page.render(scale=scale, grayscale=True).to_pil().convert("L")
    draw = ImageDraw.Draw(image)
    for line in lines:
        draw.rectangle([line.x0 * scale - 1, line.top * scale - 1, line.x1 * scale + 1, line.bottom * scale + 1],
                       fill=255)
    x0, top, x1, bottom = (int(v * scale) for v in box)
    region = image.crop((x0, top, x1, bottom)).point(lambda v: 255 if v < 200 else 0)
    rows = [bool(ink) for ink in region.getprojection()[1]]
    blocks, start, blank = [], None, 0
    for y, ink in enumerate(rows + [False] * int(gap * scale + 1)):
        if ink:
            start = y if start is None else start
            blank = 0
        elif start is not None:
            blank += 1
            if blank >= gap * scale:
                end = y - blank + 1
                inked = region.crop((0, start, region.width, end)).getbbox()
                if inked is not None:
                    blocks.append(((x0 + inked[0]) / scale, (top + start) / scale,
                                   (x0 + inked[2]) / scale, (top + end) / scale))
                start, blank = None, 0
    return [b for b in blocks if b[2] - b[0] >= 2 and b[3] - b[1] >= 2]  # none: a blank page background


def ruler_ranges(lines: list[Line], minimum: int = 10) -> list[tuple[float, float]]:
    """x-ranges of review-copy line numbers: MINIMUM or more numbers at one place on a page, mostly
    counting up by one from top to bottom, each at the start or end of its line and apart from the
    text beside it (a number set close to its line's text is merged into that line)."""
    groups: dict[tuple[int, int], list[tuple[int, Line, list[Char]]]] = {}
    for line in lines:
        if line.turn:
            continue  # the arXiv stamp down the margin is not a column of line numbers
        for run in _edge_numbers(line.chars):
            value = int("".join(c.text for c in run))
            groups.setdefault((round(run[0].x0 / 4), round(run[-1].x1 / 4)), []).append((value, line, run))
    ranges = []
    for group in groups.values():
        if len(group) < minimum:
            continue
        values = [value for value, line, _ in sorted(group, key=lambda item: item[1].top)]
        if sum(b - a == 1 for a, b in pairwise(values)) < 0.5 * (len(values) - 1):
            continue  # a column of numbers in a table, not a count of lines
        ranges.append((min(run[0].x0 for _, _, run in group), max(run[-1].x1 for _, _, run in group)))
    return ranges


def _edge_numbers(chars: list[Char]) -> list[list[Char]]:
    """The digits that start or end a line, when the line is only them or a gap wider than 0.8 font
    sizes parts them from the rest (a word space is about a third)."""
    runs = []
    count = 0
    while count < len(chars) and chars[count].text.isdigit():
        count += 1
    if count == len(chars):
        return [chars] if count <= 4 else []
    if count and count <= 4 and _apart(chars[count - 1], chars[count]):
        runs.append(chars[:count])
    tail = len(chars)
    while tail > count and chars[tail - 1].text.isdigit():
        tail -= 1
    if tail < len(chars) and len(chars) - tail <= 4 and _apart(chars[tail - 1], chars[tail]):
        runs.append(chars[tail:])
    return runs


def _apart(left: Char, right: Char) -> bool:
    return right.x0 - left.x1 > 0.8 * max(left.size, right.size)


def body_font_size(pages: list[Page]) -> float:
    """The size most characters of the paper are set in (its running text)."""
    counts: dict[float, int] = {}
    for page in pages:
        for line in page.lines:
            key = round(line.size * 2) / 2
            counts[key] = counts.get(key, 0) + len(line.text)
    return max(counts, key=counts.get) if counts else 10.0


def dehyphenate(lines: list[str], vocabulary: set[str] | None = None) -> str:
    """Lines joined into text; a word hyphenated across a line break is joined again ('con-' +
    'tinues' → 'continues'), unless the hyphenated form is known from elsewhere ('two-' + 'column')."""
    text = ""
    for line in lines:
        line = line.strip()
        if not line:
            continue
        if text.endswith("-") and len(text) > 1 and text[-2].isalpha() and line[:1].islower():
            head = re.search(r"(\w+)-$", text)
            tail = re.match(r"\w+", line)
            if vocabulary and head and tail and f"{head.group(1)}-{tail.group(0)}".lower() in vocabulary:
                text += line
            else:
                text = text[:-1] + line
        else:
            text = f"{text} {line}" if text else line
    return " ".join(text.split())
