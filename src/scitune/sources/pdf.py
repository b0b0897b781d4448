"""FigureRecords from a paper's PDF: every captioned figure, table and algorithm, its exact caption,
the picture cropped from the page, the text inside it and the sentences of the body that cite it.

Libraries: `pypdfium2` (Apache-2.0/BSD) reads the text layer character by character (ToUnicode
maps, ligatures, positions, font sizes), lists the drawing objects and renders the page; no Poppler
or Ghostscript is needed. Layout (`pdf_layout`): lines by baseline, words by x-distance, column
gutters found per page, review-copy line numbers dropped; math-font codes and loose accents read as
printed (`pdf_glyphs`). Captions and regions (`pdf_regions`): whole multi-line captions; the region
is walked from the caption through drawing objects and short text. Mentions: the running text
outside captions and regions, in reading order (columns left to right), hyphenation across line
breaks repaired, split into sentences.

A scanned page (an image and no text layer) is read by the OCR engine when one is given (`ocr`:
an engine name for `scitune.sources.ocr.make_engine`, or an engine); without one it is reported. A
figure region with no text layer (a raster figure) gets its `ocr` lines from the same engine; a
region with one gets the words the engine reads where the page has no characters (labels drawn as
paths), after the layer's lines (`ocr_from` "text_layer+engine:NAME").
"""

from __future__ import annotations

import inspect
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from scitune.contracts import FigureRecord, Rejection
from scitune.sources.ocr.text_layer import TEXT_LAYER, LayerWord, fill_in
from scitune.sources.ocr.words import lines, split_word_runs
from scitune.sources.paper_text import numbers_cited
from scitune.sources.pdf_hidden import hidden_chars, render, text_ink
from scitune.sources.pdf_layout import (Char, Line, Page, body_font_size, dehyphenate, make_lines,
                                        mark_running_heads, read_page)
from scitune.sources.pdf_regions import CAPTION, Region, caption_text, find_regions

log = logging.getLogger(__name__)

DATASET = "pdf"
_TYPES = {"Table": "table", "Algorithm": "algorithm"}


@dataclass
class PaperLayout:
    """What one pass over a PDF finds: its pages, every caption with its region, the running text."""

    pages: list[Page]
    regions: list[Region]
    sentences: list[str]
    vocabulary: set[str]
    scanned: list[int]


def _ocr_chars(document, number: int, engine, scale: float = 300 / 72) -> list[Char]:
    """A scanned page's words as characters (one per word) from the OCR engine, in page points."""
    import tempfile

    page = document[number - 1]
    height = page.get_size()[1]
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / "page.png"
        page.render(scale=scale).to_pil().convert("RGB").save(image)
        words = engine.read(image)
    chars = []
    for word in words:
        x0, y0, x1, y1 = (v / scale for v in word.box)
        size = max(1.0, y1 - y0)
        for i, part in enumerate(word.text.split()):  # an engine that gives lines: one char per word
            width = (x1 - x0) / max(1, len(word.text.split()))
            chars.append(Char(part, x0 + i * width, y0, x0 + (i + 1) * width - 0.3 * size, y1, size, y1))
    del height
    return chars


_ENGINES: dict[str, object] = {}
"""Engines made by name in this process: a batch of papers loads the models once."""


def resolve_engine(ocr):
    """An OCR engine from a name (`make_engine`), an engine as it is, None for None or "none"."""
    if ocr is None or ocr == "none":
        return None
    if isinstance(ocr, str):
        from scitune.sources.ocr import make_engine

        if ocr not in _ENGINES:
            _ENGINES[ocr] = make_engine(ocr)
        return _ENGINES[ocr]
    return ocr


def _reading_order(page: Page, lines: list[Line]) -> list[Line]:
    """Left column before right column between full-width lines, top to bottom."""
    if page.gutter is None:
        return sorted(lines, key=lambda line: (line.top, line.x0))
    middle = (page.gutter[0] + page.gutter[1]) / 2
    ordered: list[Line] = []
    band: list[Line] = []
    for line in sorted(lines, key=lambda line: (line.top, line.x0)):
        if line.x0 < page.gutter[0] and line.x1 > page.gutter[1]:
            ordered += sorted(band, key=lambda item: (item.x0 >= middle, item.top)) + [line]
            band = []
        else:
            band.append(line)
    return ordered + sorted(band, key=lambda item: (item.x0 >= middle, item.top))


def layout_paper(document, max_pages: int, ocr_engine=None) -> PaperLayout:
    """Read every page: lines, captions and regions, and the body text split into sentences."""
    from scitune.sources.sentences import split_sentences

    pages, scanned = [], []
    for number in range(1, min(len(document), max_pages) + 1):
        page = read_page(document, number)
        if page.chars < 20 and page.images:
            scanned.append(number)
            if ocr_engine is not None:
                page.lines = make_lines(_ocr_chars(document, number, ocr_engine))
        pages.append(page)
    body_size = body_font_size(pages)
    mark_running_heads(pages)
    vocabulary = {word.lower() for page in pages for line in page.lines
                  for word in re.findall(r"[A-Za-z]+(?:-[A-Za-z]+)+", line.text)}
    regions: list[Region] = []
    body: list[str] = []
    seen: set[str] = set()
    for page in pages:
        found = find_regions(page, body_size)
        fresh = []
        for region in found:  # 'Table 3 (continued)' on a later page is the same table
            if region.caption.figure_id not in seen:
                seen.add(region.caption.figure_id)
                fresh.append(region)
        regions += fresh
        skip = {id(line) for region in found for line in region.caption.lines + region.inside}
        boxes = [r.box for r in found if r.box]
        # Rotated lines are not running text (the arXiv stamp down the margin, a plot's axis label).
        text_lines = [line for line in page.lines if id(line) not in skip and not line.turn and not any(
            b[0] - 2 <= line.x0 and line.x1 <= b[2] + 2 and b[1] - 2 <= line.top and line.bottom <= b[3] + 2
            for b in boxes)]
        body += [line.text for line in _reading_order(page, text_lines)]
    sentences = split_sentences(dehyphenate(body, vocabulary))
    return PaperLayout(pages, regions, sentences, vocabulary, scanned)


def mentions_of(kind: str, number: str, sentences: list[str]) -> list[str]:
    return [s for s in sentences if number in numbers_cited(s, kind)]


def crop(document, page_number: int, box: tuple[float, float, float, float], dpi: int, target: Path,
         cache: dict | None = None, pad: float = 2.0) -> tuple[int, int]:
    """Render BOX (points, top-down) of a page at DPI and save it to TARGET; the pixel size."""
    scale = dpi / 72
    key = (page_number, dpi)
    if cache is not None and key in cache:
        bitmap = cache[key]
    else:
        bitmap = render(document[page_number - 1], dpi)
        if cache is not None:
            cache[key] = bitmap
    picture = bitmap.crop((*crop_origin(box, dpi, pad),
                           min(bitmap.width, int((box[2] + pad) * scale + 1)),
                           min(bitmap.height, int((box[3] + pad) * scale + 1))))
    target.parent.mkdir(parents=True, exist_ok=True)
    picture.save(target)
    return picture.size


def crop_origin(box: tuple[float, float, float, float], dpi: int, pad: float = 2.0) -> tuple[int, int]:
    """The pixel of the page rendering at DPI where `crop` of BOX starts."""
    return max(0, int((box[0] - pad) * dpi / 72)), max(0, int((box[1] - pad) * dpi / 72))


def read_pdf_paper(source: Path, out_dir: Path, dpi: int = 150, max_pages: int = 80,
                   ocr=None) -> tuple[list[FigureRecord], list[Rejection], int]:
    """Every captioned figure, table and algorithm of one PDF (crops in OUT_DIR/images/PAPER/), the
    problems met, and the number of pages read. OCR: an engine name or engine for scanned pages and
    raster figures (None: no OCR; scanned pages are then reported)."""
    import pypdfium2 as pdfium

    source = Path(source)
    paper = source.stem
    records: list[FigureRecord] = []
    rejected: list[Rejection] = []

    def reject(item: str, kind: str, reason: str) -> None:
        rejected.append(Rejection(id=f"{paper}-{item}", dataset=DATASET, kind=kind, reason=reason, where=source.name))

    try:
        document = pdfium.PdfDocument(str(source))
    except Exception as error:  # pdfium raises one error type for encrypted, damaged or non-PDF files
        reject("paper", "unreadable_pdf", f"cannot open the PDF (encrypted or damaged?): {type(error).__name__}: {error}")
        return records, rejected, 0
    pages = min(len(document), max_pages)
    try:
        engine = resolve_engine(ocr)
        if len(document) > max_pages:
            reject("paper", "too_many_pages", f"{len(document)} pages, more than max_pages {max_pages}: only the "
                                              f"first {max_pages} are read")
        layout = layout_paper(document, max_pages, engine)
        if layout.scanned and engine is None:
            reject("paper", "scanned_pages", f"pages {layout.scanned} are scanned (no text layer): give an OCR "
                                             "engine (--ocr tesseract) to read them")
        bitmaps: dict = {}
        inks: dict = {}
        for region in layout.regions:
            caption = region.caption
            figure_id = caption.figure_id
            if region.box is None:
                reject(figure_id, "no_figure_region", f"{caption.kind} {caption.number} (page {caption.page}): no "
                                                      "drawing, image or text found next to its caption")
                continue
            image = f"images/{paper}/{figure_id}.png"
            size = crop(document, caption.page, region.box, dpi, Path(out_dir) / image, bitmaps)
            if min(size) < 8:
                reject(figure_id, "tiny_region", f"{caption.kind} {caption.number}: region of {size} px only")
                continue
            inside, read_from = region_text(document, region, layout.pages[caption.page - 1], dpi,
                                            Path(out_dir) / image, engine, inks, bitmaps)
            records.append(FigureRecord(
                id=f"{paper}-{figure_id}", image=image, figure_type=_TYPES.get(caption.kind),
                caption=caption_text(caption, layout.vocabulary), ocr=inside, ocr_from=read_from,
                mentions=mentions_of(caption.kind, caption.number, layout.sentences),
                source={"dataset": DATASET, "paper_id": paper, "figure_id": figure_id, "license": "the paper's own"}))
    except Exception as error:  # a page pdfium cannot parse stops this paper only
        log.warning("%s: %s", source.name, error)
        reject("paper", "unreadable_pdf", f"damaged PDF: {type(error).__name__}: {error}")
    finally:
        document.close()
    return records, rejected, pages


def shown_lines(lines_: list[Line], document, page_number: int, dpi: int, inks: dict,
                renders: dict | None = None) -> list[Line]:
    """LINES of page PAGE_NUMBER of DOCUMENT without the characters the page does not show
    (`pdf_hidden`); INKS caches each page's text ink, RENDERS holds `crop`'s renderings."""
    if not lines_:
        return lines_
    if page_number not in inks:
        inks[page_number] = text_ink(document, page_number, dpi, (renders or {}).get((page_number, dpi)))
    if inks[page_number] is None:
        return lines_
    hidden = hidden_chars(inks[page_number], [c for line in lines_ for c in line.chars], dpi)
    kept = []
    for line in lines_:
        chars = [c for c in line.chars if id(c) not in hidden]
        if len(chars) == len(line.chars):
            kept.append(line)
        elif chars:
            kept.append(Line(chars).finish())
    return kept


def figure_text(document, page_number: int, lines_: list[Line], box: tuple[float, float, float, float],
                dpi: int, inks: dict | None = None, renders: dict | None = None) -> list[list[LayerWord]]:
    """The words a figure's text layer shows: LINES of page PAGE_NUMBER of DOCUMENT inside BOX, in
    reading order, hidden characters left out, boxed in pixels of the crop of BOX at DPI (INKS and
    RENDERS: `shown_lines`' caches)."""
    ordered = sorted((line for line in lines_ if not CAPTION.match(line.text)), key=lambda line: (line.top, line.x0))
    return layer_words(shown_lines(ordered, document, page_number, dpi, {} if inks is None else inks, renders), box, dpi)


def region_text(document, region: Region, page: Page, dpi: int, image: Path, engine=None,
                inks: dict | None = None, renders: dict | None = None) -> tuple[list[str], str | None]:
    """The lines of text inside a figure REGION of PAGE (of DOCUMENT) whose crop at DPI is IMAGE, and
    where they came from (`ocr_from`): the text layer (`figure_text`); with an OCR ENGINE, a region
    without one read by the engine, and one with a layer completed by the engine's words (`fill_in`;
    not a table's: their text is set by TeX, not drawn). ([], None) when nothing is read."""
    layer = figure_text(document, region.caption.page, region.inside, region.box, dpi, inks, renders)
    found = [text for line in layer if (text := " ".join(t for t, _ in line))]
    if engine is None or found and region.caption.kind == "Table":
        return found, TEXT_LAYER if found else None
    if not found:  # a raster figure
        found = _ocr_lines(engine, image)
        return found, f"engine:{engine.name}" if found else None
    held = {id(line) for line in region.inside}
    # Running text the crop cuts in is the page's, not the figure's: the engine's words there stay out.
    context = layer_words([line for line in page.lines if id(line) not in held], region.box, dpi)
    context = [word for line in context for word in line]
    filled, gave = fill_in(layer, _read_around(engine, image, layer, context), getattr(engine, "target_confidence", 0),
                           context)
    return [text for text in filled if text], f"{TEXT_LAYER}+engine:{engine.name}" if gave else TEXT_LAYER


def _read_around(engine, image: Path, layer: list[list[LayerWord]], context: list[LayerWord] = ()) -> list:
    """ENGINE's words in IMAGE; an engine that can (the figure engine) skips the lines whose ink the
    layer's and the page's words all cover: only signs and labels drawn as paths are left to read."""
    known = [box for line in layer for _, box in line] + [box for _, box in context]
    if "known" in inspect.signature(engine.read).parameters:
        return engine.read(image, known=known)
    return engine.read(image)


def graphic_text(path: Path, dpi: int, engine=None, image: Path | None = None) -> tuple[list[str], str | None]:
    """The lines of text a one-page PDF graphic shows (a plot included by \\includegraphics) and where
    they came from: its text layer, read as `figure_text` reads a figure's, completed by ENGINE's
    reading of its rendering IMAGE (at DPI) when one is given (`fill_in`). ([], None) without a text
    layer: like a PNG's, such a graphic's text is curation's to read (`curate figures`' OCR, with
    the caption as a lexicon)."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(str(path))
    try:
        page = read_page(document, 1)
        layer = figure_text(document, 1, page.lines, (0.0, 0.0, page.width, page.height), dpi)
    finally:
        document.close()
    found = [text for line in layer if (text := " ".join(t for t, _ in line))]
    if not found or engine is None or image is None:
        return found, TEXT_LAYER if found else None
    filled, gave = fill_in(layer, _read_around(engine, image, layer), getattr(engine, "target_confidence", 0))
    return [text for text in filled if text], f"{TEXT_LAYER}+engine:{engine.name}" if gave else TEXT_LAYER


def _ocr_lines(engine, image: Path) -> list[str]:
    """The lines of the words the engine is sure of (its target confidence)."""
    return lines(engine.read(image), getattr(engine, "target_confidence", 0))


def layer_words(lines_: list[Line], box: tuple[float, float, float, float], dpi: int) -> list[list[LayerWord]]:
    """The words of LINES that touch BOX, line by line, with their boxes in pixels of the crop of BOX
    at DPI. Relations and decimals are written as OCR writes them: TeX's thick spaces around "=" and
    mathtext's space after a decimal point are no word breaks ("λ=0|Z=0", "0.5")."""
    scale = dpi / 72
    x, y = crop_origin(box, dpi)
    found = []
    for line in lines_:
        if line.x1 < box[0] - 2 or line.x0 > box[2] + 2 or line.bottom < box[1] - 2 or line.top > box[3] + 2:
            continue
        words = line.word_groups
        texts = ["".join(c.text for c in word) for word in words]
        joined = []
        for run in split_word_runs(texts, 6):
            chars = [c for i in run for c in words[i]]
            # Upright words span their line's height: "=" or "." alone is a sliver of ink.
            top = min(c.top for c in chars) if line.turn else min(line.top, *(c.top for c in chars))
            bottom = max(c.bottom for c in chars) if line.turn else max(line.bottom, *(c.bottom for c in chars))
            joined.append(("".join(texts[i] for i in run),
                           (min(c.x0 for c in chars) * scale - x, top * scale - y,
                            max(c.x1 for c in chars) * scale - x, bottom * scale - y)))
        found.append(joined)
    return found
