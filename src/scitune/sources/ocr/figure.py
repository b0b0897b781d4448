"""The default OCR engine: RapidOCR's ONNX models (pip only) read the way figures are laid out.

Steps for one figure (each measured on real figures in benchmarks/ocr_accuracy.py):
1. glyph scan (glyphs.py): the text height, and candidates for lone tick labels;
2. the DB detector at the scale that makes the text about 18 px high; columns of turned text
   detected again turned upright; boxes of two stacked lines cut apart (detect.py); the text
   height measured again on the glyphs inside the detector's boxes (markers no longer count); a
   box that starts after a number's minus sign grown over it;
3. each box cut out, turned upright (tall boxes are tried turned both ways: axis labels read bottom
   to top unless the other way is clearly more likely, so a sure bottom-to-top reading is not tried
   the other way), and recognised with character positions (PP-OCRv4); a line with a character
   outside the Latin script, PP-OCRv4's way of writing the Greek letters it has no class for, or
   with a character below `reread_below`, read again by PP-OCRv6, whose charset has them, and its
   reading kept where surer;
   words split at wide ink gaps (recognise.py);
4. layout rules (layout.py): tick labels as numbers, decimal points put back from the axis's
   scale, legend samples, tick marks and frames removed (a sign between two words of its line
   kept: "ΔT = 1"), implausible glyph candidates dropped,
   Greek letters the recogniser reads as lookalikes put back, marker samples dropped, relations
   and decimals split at their sign or point joined, duplicate readings dropped;
5. near-misses corrected from the figure's own sure words and the lexicon given (lexicon.py);
   reading order.
Each word keeps its box, its turn (`angle`) and its confidence: the lowest probability of its
characters, in percent, raised where the axis scale or the lexicon confirms it.

Both models run with their elementwise steps folded into the convolutions (fuse.py): with that,
0.44-0.50 CPU s per real SciCap figure on one core here (before the second reading), instead of 0.72-0.78.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from scitune.sources.ocr import layout
from scitune.sources.ocr.detect import DetectorSettings, TextDetector, join_vertical, split_stacked, turned_lines
from scitune.sources.ocr.glyphs import Box, minus_sign, scan_glyphs
from scitune.sources.ocr.lexicon import Lexicon, correct_near_misses, ctc_log_likelihood, split_glued
from scitune.sources.ocr.rapid import DETECTION_MODEL, onnx_session, recogniser_file
from scitune.sources.ocr.recognise import LineImage, TextRecogniser, upright
from scitune.sources.ocr.words import Word

logger = logging.getLogger(__name__)

GLYPH_RECOGNISER = "PP-OCRv4"
"""Reads lone glyphs (tick labels the detector missed) whatever reads the lines: PP-OCRv6 reads a
dashed line's dashes and plot markers as "1" and "十" with confidences near 1 (134 more junk "1"s
on the pages set), which the layout rules, tuned on PP-OCRv4's readings of them, cannot tell from
tick labels."""

VERSION = 10
"""Part of the cache key: raise it when a change reads the same image differently."""


@dataclass(frozen=True)
class FigureOcrSettings:
    detector: DetectorSettings = field(default_factory=DetectorSettings)
    recogniser: str = "PP-OCRv4"
    """The line recogniser (`rapid.RECOGNISERS`). PP-OCRv4 is the surer on plain words; PP-OCRv6 has
    the Greek letters and math signs PP-OCRv4's charset lacks, but reads more junk on its own
    (README: OCR)."""
    reread: str = "PP-OCRv6"
    """A second recogniser for the detector lines the first was unsure of: a line with a character
    outside the Latin script (how PP-OCRv4 writes a Greek letter it has no class for: 入 for λ,
    △ for Δ, a CJK lookalike for σ) or below `reread_below`. Its reading is kept where its mean
    character probability is higher. "" for none."""
    reread_below: float = 0.9
    """Also re-read a line of two or more characters with one below this probability (0-1). Measured
    on the 64 vector figures with the layout rules of VERSION 8: 0 (only lines outside the Latin
    script) 87.6% / 4.6%, 0.8-0.95: 90.2% / 4.6% (more math read: q(θ|ψ), σ(r), μHz); the SciCap
    six 96.0% / 0.0% and 97.7% / 0.6%."""
    space_ratio: float = 0.3
    """A blank gap wider than this share of the line's ink height separates two words."""
    upright_preference: float = 0.1
    """A tall box is read turned both ways; the top-to-bottom reading must beat the usual
    bottom-to-top one by this much mean character probability to win."""
    glyph_candidates: bool = True
    """Also read glyph groups the detector missed (lone tick labels)."""
    layout_rules: bool = True
    """Tick labels as numbers, decimal points from the axis scale, legend dashes removed."""
    lexicon: bool = True
    """Unsure words corrected from the figure's sure words and the lexicon given to `read`."""
    min_confidence: float = 0.2
    """Words below this (0-1) are not returned at all; the record keeps everything above it."""


class FigureOcr:
    """OCR for figures on RapidOCR's models (`rapidocr-onnxruntime`, installed by `make`)."""

    name = "figure"
    target_confidence = 80.0
    takes_lexicon = True

    def __init__(self, config: FigureOcrSettings | None = None, threads: int = 1):
        self.config = config or FigureOcrSettings()
        self.detector = TextDetector(onnx_session(DETECTION_MODEL, threads), self.config.detector)
        self.recogniser = TextRecogniser(onnx_session(recogniser_file(self.config.recogniser), threads))
        self.threads = threads
        self._reread: TextRecogniser | None = None  # loaded when a figure first needs it
        self.glyph_recogniser = (self.recogniser if self.config.recogniser == GLYPH_RECOGNISER
                                 else TextRecogniser(onnx_session(recogniser_file(GLYPH_RECOGNISER), threads)))

    @property
    def reread_recogniser(self) -> TextRecogniser | None:
        """The second recogniser (`FigureOcrSettings.reread`), loaded on first use: most figures
        have no line that needs it."""
        if self._reread is None and self.config.reread:
            self._reread = TextRecogniser(onnx_session(recogniser_file(self.config.reread), self.threads))
        return self._reread

    def settings(self) -> str:
        c = self.config
        model = "" if c.recogniser == "PP-OCRv4" else f"-{c.recogniser}"
        model += f"-r{c.reread}-{c.reread_below:g}" if c.reread else ""
        return (f"v{VERSION}{model}-h{c.detector.target_text_height:g}-s{c.space_ratio:g}-u{c.upright_preference:g}"
                f"-g{int(c.glyph_candidates)}-l{int(c.layout_rules)}-x{int(c.lexicon)}-c{c.min_confidence:g}")

    def read(self, path: Path, lexicon: Lexicon | None = None, known: list[Box] | None = None) -> list[Word]:
        """The words of an image file; LEXICON (e.g. `Lexicon.from_text(caption, paragraphs)`) adds
        words the figure is likely to hold to those it corrects near-misses with. KNOWN: boxes of
        words already read (a text layer's): lines whose ink they all cover are not recognised."""
        with Image.open(path) as image:
            image.load()
            if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                white = Image.new("RGBA", image.size, (255, 255, 255, 255))
                image = Image.alpha_composite(white, image.convert("RGBA"))
            rgb = np.asarray(image.convert("RGB"))
        return self.read_array(rgb, lexicon, known)

    def read_array(self, rgb: np.ndarray, lexicon: Lexicon | None = None, known: list[Box] | None = None) -> list[Word]:
        """The words of an [H, W, 3] uint8 RGB image (KNOWN: as for `read`)."""
        if rgb.shape[0] < 4 or rgb.shape[1] < 4:
            return []
        scan = scan_glyphs(rgb)
        text_height = scan.text_height or 12.0
        found = self._detect(rgb, text_height)
        # Detected at the scan's text height; from here on, the height of the text the detector found.
        text_height = _text_height(scan.candidates, found, text_height)
        found = [_with_minus_sign(b, scan.bars, text_height) for b in found]
        boxes = [(box, "detector") for box in found]
        if self.config.glyph_candidates:
            boxes += [(box, "glyphs") for box in _uncovered(scan.candidates, [b for b, _ in boxes], rgb.shape, text_height)]
        if known:
            ink = rgb.min(axis=2) < 160
            boxes = [(box, source) for box, source in boxes if _unread_ink(ink, box, known, text_height)]
        pieces = self._recognise(rgb, boxes, text_height)
        tolerance = 0.6 * text_height
        if self.config.layout_rules:
            layout.strip_marks(pieces)
            layout.strip_frames(pieces)
            pieces = layout.split_number_runs(pieces)
            numbers = layout.read_ticks_as_numbers(pieces, tolerance)
            points = layout.repair_axis_points(pieces, tolerance)
            pieces = layout.tidy(pieces, tolerance)
            layout.greek_lookalikes(pieces)
            pieces = layout.drop_duplicates(layout.join_split_words(layout.strip_marker_samples(pieces), text_height))
            logger.debug("%d boxes (%d glyph candidates); %d ticks read as numbers, %d decimal points put back",
                         len(boxes), sum(s == "glyphs" for _, s in boxes), numbers, points)
        else:
            pieces = [p for p in pieces if p.source == "detector" and any(ch.isalnum() for ch in p.text)]
        if self.config.lexicon:
            # The figure's own sure words ("generations" in a title) correct its unsure ones.
            own = Lexicon(p.text for p in pieces if p.confidence >= 0.95 and p.text.isalpha() and len(p.text) >= 4)
            if lexicon is not None:
                pieces = split_glued(pieces, lexicon)
            correct_near_misses(pieces, [own] if lexicon is None else [own, lexicon])
        pieces = [p for p in pieces if p.confidence >= self.config.min_confidence]
        return [Word(p.text, tuple(round(v) for v in p.box), round(100 * p.confidence, 1), p.line, p.angle)
                for p in layout.reading_order(pieces, text_height)]

    def _detect(self, rgb: np.ndarray, text_height: float) -> list[Box]:
        """Line boxes: the detector's, turned columns detected again upright, stacked lines cut apart."""
        scale = self.detector.scale_for(rgb.shape[:2], text_height)
        found = [box for box, _ in self.detector(rgb, scale)]
        tall = [b for b in found if _is_turned(b, text_height)]
        if tall:
            flat = [b for b in found if not _is_turned(b, text_height)]
            # The strip cut around a y-axis label also takes in the tick labels beside it, whose
            # column, turned, reads as a line: a line mostly outside the label's column, or across
            # a horizontal box that stands out of it (not a piece of the label itself), is not one.
            beside = [f for f in flat if _within_columns(f, tall) < 0.5]
            lines = [b for b in turned_lines(self.detector, rgb, tall, scale)
                     if _is_turned(b, text_height) and _within_columns(b, tall) >= 0.5
                     and not any(_covered(f, [b]) > 0.2 for f in beside)]
            # A tall box the turned strip did not find again is kept as it was.
            kept = [b for b in tall if _covered(b, lines) < 0.5]
            found = flat + lines + kept
        return split_stacked(rgb, join_vertical(found), text_height)

    def _recognise(self, rgb: np.ndarray, boxes: list[tuple[Box, str]], text_height: float) -> list[layout.Piece]:
        """Each box read (tall ones turned both ways, the likelier kept) and cut into word pieces."""
        best: dict[int, tuple[float, int, LineImage]] = {}
        first = [(number, 90 if _is_turned(box, text_height) else 0) for number, (box, _) in enumerate(boxes)]
        self._read_keeping_best(rgb, boxes, first, best)
        # Top to bottom must beat bottom to top by `upright_preference`, so a tall box read bottom to
        # top with a mean probability of 1 - upright_preference or more is not read the other way:
        # most axis labels, whose turned line is the widest crop of the figure.
        unsure = [(number, 270) for number, (score, angle, _) in best.items()
                  if angle == 90 and score < 1 - self.config.upright_preference]
        self._read_keeping_best(rgb, boxes, unsure, best)
        readers = self._reread_unsure(rgb, boxes, best) if self.config.reread else {}
        pieces = []
        for number, (_, angle, line) in sorted(best.items()):
            box, source = boxes[number]
            recogniser = readers.get(number) or self._recogniser(source)
            for span in recogniser.spans(line, self.config.space_ratio):
                pieces.append(layout.Piece(span.text, span.confidence, _span_box(box, angle, span.x0, span.x1, line.width),
                                           number, angle, source, SpanProbe(recogniser, line, span),
                                           span.char_confidences))
        return pieces

    def _reread_unsure(self, rgb: np.ndarray, boxes: list[tuple[Box, str]],
                       best: dict[int, tuple[float, int, LineImage]]) -> dict[int, TextRecogniser]:
        """Detector lines the first recogniser was unsure of (a character below `reread_below`, or
        one outside Latin script: a Greek letter read as a CJK lookalike), read again by the second;
        its reading replaces the first where it is surer. Returns the boxes it replaced, with it."""
        todo = []
        for number, (score, angle, line) in best.items():
            if boxes[number][1] != "detector":
                continue
            spans = self.recogniser.spans(line, self.config.space_ratio)
            # A line of one character is left alone unless outside the Latin script: the second
            # recogniser reads a dash or a marker the detector took for text as a sure "1" (GLYPH_RECOGNISER).
            unsure = sum(len(span.text) for span in spans) >= 2 and any(
                c < self.config.reread_below for span in spans for c in span.char_confidences)
            if unsure or any(ord(ch) > 0x24F for span in spans for ch in span.text):
                todo.append((number, angle))
        if not todo:
            return {}
        second = self.reread_recogniser
        assert second is not None
        replaced = {}
        for (number, angle), line in zip(todo, second([upright(rgb, boxes[n][0], a) for n, a in todo])):
            score = self._score(second, line, angle)
            if score > best[number][0]:
                best[number] = (score, angle, line)
                replaced[number] = second
        return replaced

    def _recogniser(self, source: str) -> TextRecogniser:
        return self.glyph_recogniser if source == "glyphs" else self.recogniser

    def _read_keeping_best(self, rgb: np.ndarray, boxes: list[tuple[Box, str]], todo: list[tuple[int, int]],
                           best: dict[int, tuple[float, int, LineImage]]) -> None:
        """Read the boxes TODO names (box number, angle); BEST keeps each box's likelier reading."""
        # One call per recogniser (one for all with PP-OCRv4 alone: its batches as they always were).
        by_recogniser: dict[TextRecogniser, list[tuple[int, int]]] = {}
        for number, angle in todo:
            by_recogniser.setdefault(self._recogniser(boxes[number][1]), []).append((number, angle))
        for recogniser, mine in by_recogniser.items():
            for (number, angle), line in zip(mine, recogniser([upright(rgb, boxes[n][0], a) for n, a in mine])):
                score = self._score(recogniser, line, angle)
                if number not in best or score > best[number][0]:
                    best[number] = (score, angle, line)

    def _score(self, recogniser: TextRecogniser, line: LineImage, angle: int) -> float:
        """How likely a reading is: its words' mean confidence, less `upright_preference` when read
        top to bottom."""
        spans = recogniser.spans(line, self.config.space_ratio)
        score = float(np.mean([s.confidence for s in spans])) if spans else 0.0
        return score - (self.config.upright_preference if angle == 270 else 0.0)


def _text_height(candidates: list[Box], boxes: list[Box], estimate: float) -> float:
    """The median height of the glyph groups that lie in the detector's horizontal boxes: the
    figure's text. The scan's median of all glyph groups is fooled where markers outnumber
    letters (a scatter plot's triangles made it 7 px for 20 px text)."""
    flat = [b for b in boxes if b[3] - b[1] < b[2] - b[0]]
    inside = [c[3] - c[1] for c in candidates
              if any(b[0] <= c[0] and c[2] <= b[2] and b[1] <= c[1] and c[3] <= b[3] for b in flat)]
    return float(np.median(inside)) if len(inside) >= 3 else estimate


def _with_minus_sign(box: Box, bars, text_height: float) -> Box:
    """A horizontal line box grown left over the minus sign its number starts with: the detector's
    box often begins at the first digit ("0.5" of "-0.5"); the recogniser needs a margin before the sign."""
    if box[3] - box[1] > 3 * text_height or box[3] - box[1] > box[2] - box[0]:
        return box
    bar = minus_sign(box, bars, text_height, reach=text_height, middle=0.25)
    return box if bar is None else (max(0.0, bar[0] - 0.4 * text_height), box[1], box[2], box[3])


def _is_turned(box: Box, text_height: float) -> bool:
    """A tall box is a turned label, unless it is one tall character ("1", "l")."""
    width, height = box[2] - box[0], box[3] - box[1]
    return height > 1.5 * width and height > 1.6 * text_height


def _covered(box: Box, boxes: list[Box]) -> float:
    """The largest share of BOX's area that one of BOXES covers."""
    area = max(1e-9, (box[2] - box[0]) * (box[3] - box[1]))
    return max((layout.intersection(box, b) for b in boxes), default=0.0) / area


def _unread_ink(ink: np.ndarray, box: Box, known: list[Box], text_height: float) -> bool:
    """Whether BOX holds ink that none of KNOWN covers: columns (rows, in a turned box) of ink
    outside them over a quarter of the text height or more (a minus sign drawn before a layer's
    "70.5", a Greek letter inside "p(x|", a label the layer lacks)."""
    x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
    x1, y1 = min(ink.shape[1], int(box[2]) + 1), min(ink.shape[0], int(box[3]) + 1)
    if x1 <= x0 or y1 <= y0:
        return False
    free = ink[y0:y1, x0:x1].copy()
    for k in known:
        if k[2] >= x0 and k[0] <= x1 and k[3] >= y0 and k[1] <= y1:
            free[max(0, int(k[1]) - 1 - y0):max(0, int(k[3]) + 2 - y0), max(0, int(k[0]) - 1 - x0):max(0, int(k[2]) + 2 - x0)] = False
    profile = free.any(axis=1 if _is_turned(box, text_height) else 0)
    run = longest = 0
    for inked in profile:
        run = run + 1 if inked else 0
        longest = max(longest, run)
    return longest >= 0.25 * text_height


def _within_columns(box: Box, tall: list[Box]) -> float:
    """The largest share of BOX's width within the x-range of one of TALL."""
    width = max(1e-9, box[2] - box[0])
    return max((max(0.0, min(box[2], b[2]) - max(box[0], b[0])) for b in tall), default=0.0) / width


def _uncovered(candidates: list[Box], boxes: list[Box], shape, text_height: float) -> list[Box]:
    """Glyph candidates, padded, that no detector box already covers (a fifth of their area or
    more), of the figure's text height and in a row or column with two others, one of them found
    by the detector (a tick label the detector missed sits among the ones it found; curve pieces
    and markers mostly do not): recognising the rest costs time for junk."""
    height, width = shape[:2]
    # The median glyph group mixes x-height words and cap-height digits: a wide band.
    sized = [c for c in candidates if 0.5 * text_height <= c[3] - c[1] <= 2.2 * text_height]
    lines = [b for b in boxes if b[3] - b[1] <= 3 * text_height]  # one line of text, grown by the detector's margin
    found = []
    for x0, y0, x1, y1 in sized:
        # Centres within 0.6 text heights share a row; right edges within one (the detector's
        # boxes stand a few pixels beyond their glyphs) a column.
        rows = [abs((b[1] + b[3]) - (y0 + y1)) < 1.2 * text_height for b in lines + sized]
        columns = [abs(b[2] - x1) < text_height for b in lines + sized]
        if not any(sum(near[:len(lines)]) >= 1 and sum(near) >= 3 for near in (rows, columns)):
            # A row of labels of the text's height set on one baseline, none found by the
            # detector (a multi-panel figure's bottom axis: "-1", "0", "-1", "0").
            tight = 0.15 * text_height
            # Digits are a quarter of their height wide or more; a dash of a dashed line is not.
            aligned = [c for c in sized if abs(c[1] - y0) <= tight and abs(c[3] - y1) <= tight
                       and 0.8 * text_height <= c[3] - c[1] <= 1.3 * text_height and c[2] - c[0] >= 0.25 * (c[3] - c[1])]
            if len(aligned) < 3 or (x0, y0, x1, y1) not in aligned:
                continue
        pad = 0.3 * (y1 - y0)
        box = (max(0.0, x0 - pad), max(0.0, y0 - pad), min(float(width), x1 + pad), min(float(height), y1 + pad))
        if _covered(box, boxes) < 0.2:
            found.append(box)
    return found


def _span_box(box: Box, angle: int, x0: float, x1: float, line_width: int) -> Box:
    """A word's box in the image, from its extent along the upright line."""
    if angle == 0:
        scale = (box[2] - box[0]) / line_width
        return (box[0] + x0 * scale, box[1], box[0] + x1 * scale, box[3])
    scale = (box[3] - box[1]) / line_width
    if angle == 90:  # read bottom to top: the line's start is the box's bottom
        return (box[0], box[3] - x1 * scale, box[2], box[3] - x0 * scale)
    return (box[0], box[1] + x0 * scale, box[2], box[1] + x1 * scale)


class SpanProbe:
    """Asks the recogniser about one word again, on the output steps it was read from."""

    def __init__(self, recogniser: TextRecogniser, line: LineImage, span):
        first, last = max(0, span.first_step - 1), min(len(line.probabilities), span.last_step + 2)
        self.recogniser = recogniser
        self.probabilities = line.probabilities[first:last]  # [steps, classes]
        self.ink_height, self.width = line.ink_height, line.width

    def reread(self, allowed_chars: str) -> tuple[str, float] | None:
        """The word decoded with only ALLOWED_CHARS: (text, confidence), or None when nothing is left."""
        charset = self.recogniser.charset
        allowed = np.array([i == 0 or ch in allowed_chars for i, ch in enumerate(charset)])
        part = LineImage(self.probabilities, np.ones(0, bool), self.ink_height, self.width)
        spans = self.recogniser.spans(part, space_ratio=1e9, allowed=allowed)
        if not spans:
            return None
        return "".join(s.text for s in spans), min(s.confidence for s in spans)

    def log_likelihood(self, text: str) -> float:
        """log P(TEXT) on these steps; -inf when a character is outside the recogniser's charset."""
        index = self.recogniser.index
        if any(ch not in index for ch in text):
            return float("-inf")
        return ctc_log_likelihood(self.probabilities, [index[ch] for ch in text])
