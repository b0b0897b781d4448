"""FigureRecords from a paper's PDF: captions, the figure region each belongs to, the text inside
it, and the sentences of the body that name it.

Libraries: `pdfplumber` (MIT) reads the text layer with positions and the drawing objects (images,
lines, curves, rectangles); `pypdfium2` (Apache-2.0/BSD) renders the page to crop the region. Both
are permissively licensed and pure pip installs (no Poppler or Ghostscript).

Layout rules, in order: lines are words at one height with no column gutter between them; a
caption is a line starting `Figure 3:`, `Fig. 3.`, `Table 2:` plus the lines that continue it
(same left edge, tight spacing); a figure's region is the cluster of drawing objects and short text
(tick labels, legends) right above its caption in the caption's column (the whole width when the
caption spans both columns); a table's region is below its caption. Text inside a vector region
comes from the text layer, so no OCR is needed; a raster region with no text layer is read by the
OCR engine when one is given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from scitune.contracts import FigureRecord, Rejection

DATASET = "pdf"
_CAPTION = re.compile(r"^(?P<kind>Figure|Fig\.|FIGURE|Table|TABLE|Tab\.)\s*(?P<number>\d+)\s*[.:]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")


@dataclass
class Line:
    words: list[dict]
    x0: float = 0.0
    x1: float = 0.0
    top: float = 0.0
    bottom: float = 0.0

    def add(self, word: dict) -> None:
        self.words.append(word)
        self.x0, self.x1 = min(w["x0"] for w in self.words), max(w["x1"] for w in self.words)
        self.top, self.bottom = min(w["top"] for w in self.words), max(w["bottom"] for w in self.words)

    @property
    def text(self) -> str:
        return " ".join(w["text"] for w in sorted(self.words, key=lambda w: w["x0"]))

    @property
    def is_body(self) -> bool:
        """Running text, as opposed to labels inside a figure: several words of some length."""
        return len(self.words) >= 5 and len(self.text) >= 30


@dataclass
class Caption:
    kind: str  # "Figure" or "Table"
    number: int
    lines: list[Line] = field(default_factory=list)

    @property
    def text(self) -> str:
        return dehyphenate([line.text for line in self.lines])

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (min(line.x0 for line in self.lines), min(line.top for line in self.lines),
                max(line.x1 for line in self.lines), max(line.bottom for line in self.lines))


def dehyphenate(lines: list[str]) -> str:
    text = ""
    for line in lines:
        text = text[:-1] + line if text.endswith("-") else (text + " " + line if text else line)
    return " ".join(text.split())


def make_lines(words: list[dict], gutter: float = 12.0) -> list[Line]:
    """Words at one height joined into lines, split where a gap wider than GUTTER (a column break) falls."""
    lines: list[Line] = []
    for word in sorted(words, key=lambda w: (round(w["top"]), w["x0"])):
        for line in lines:
            if abs(line.top - word["top"]) < 2 and 0 <= word["x0"] - line.x1 < gutter:
                line.add(word)
                break
        else:
            line = Line([])
            line.add(word)
            lines.append(line)
    return lines


def find_captions(lines: list[Line]) -> list[Caption]:
    captions = []
    ordered = sorted(lines, key=lambda line: line.top)
    used: set[int] = set()
    for line in ordered:
        match = _CAPTION.match(line.text)
        if not match or id(line) in used:
            continue
        kind = "Table" if match["kind"].lower().startswith("tab") else "Figure"
        caption = Caption(kind, int(match["number"]), [line])
        used.add(id(line))
        while True:  # continuation lines: same left edge, right below, not a new caption
            last = caption.lines[-1]
            height = last.bottom - last.top
            nxt = next((c for c in ordered if id(c) not in used and abs(c.x0 - line.x0) < 4
                        and 0 <= c.top - last.bottom < 0.8 * height and not _CAPTION.match(c.text)), None)
            if nxt is None:
                break
            caption.lines.append(nxt)
            used.add(id(nxt))
        captions.append(caption)
    return captions


def _overlaps(a0: float, a1: float, b0: float, b1: float, slack: float = 0.0) -> bool:
    return a0 <= b1 + slack and b0 <= a1 + slack


def region_of(caption: Caption, objects: list[tuple], page_width: float) -> tuple[float, float, float, float] | None:
    """The bounding box of the drawing objects and short text that belong to CAPTION: above it for
    a figure, below it for a table, within the caption's column."""
    cx0, ctop, cx1, cbottom = caption.box
    middle = page_width / 2
    if cx0 < middle - 20 and cx1 > middle + 20:
        column = (0.0, page_width)
    elif cx1 <= middle + 20:
        column = (0.0, middle)
    else:
        column = (middle, page_width)
    def near(candidates):
        if caption.kind == "Figure":
            return [o for o in candidates if ctop - 60 <= o[3] <= ctop + 1]
        return [o for o in candidates if cbottom - 1 <= o[1] <= cbottom + 40]

    touching = [o for o in objects if _overlaps(o[0], o[2], max(column[0], cx0 - 10), min(column[1], cx1 + 10))]
    seeds = near(touching)
    if not seeds:
        return None
    if min(o[0] for o in seeds) < column[0] - 10 or max(o[2] for o in seeds) > column[1] + 10:
        column = (0.0, page_width)  # a figure spanning both columns above a short caption
    inside = [o for o in objects if o[0] >= column[0] - 10 and o[2] <= column[1] + 10]
    box = [min(o[0] for o in seeds), min(o[1] for o in seeds), max(o[2] for o in seeds), max(o[3] for o in seeds)]
    grew = True
    while grew:  # add whatever touches the region (12 pt slack), never crossing the caption
        grew = False
        for o in inside:
            if o[0] >= box[0] and o[1] >= box[1] and o[2] <= box[2] and o[3] <= box[3]:
                continue
            beyond = o[3] > ctop + 1 if caption.kind == "Figure" else o[1] < cbottom - 1
            if not beyond and _overlaps(o[1], o[3], box[1], box[3], 12) and _overlaps(o[0], o[2], box[0], box[2], 12):
                box = [min(box[0], o[0]), min(box[1], o[1]), max(box[2], o[2]), max(box[3], o[3])]
                grew = True
    return tuple(box)


def read_pdf_paper(source: Path, out_dir: Path, dpi: int = 150, max_pages: int = 80,
                   ocr_engine=None) -> tuple[list[FigureRecord], list[Rejection], int]:
    """Every captioned figure and table of one PDF (crops in OUT_DIR/images/PAPER/), the problems
    met, and the number of pages read."""
    import pdfplumber
    import pypdfium2 as pdfium

    source = Path(source)
    paper = source.stem
    records: list[FigureRecord] = []
    rejected: list[Rejection] = []

    def reject(item: str, kind: str, reason: str) -> None:
        rejected.append(Rejection(id=f"{paper}-{item}", dataset=DATASET, kind=kind, reason=reason,
                                  where=source.name))

    try:
        document = pdfplumber.open(source)
        rendered = pdfium.PdfDocument(str(source))
    except Exception as error:  # pdfminer and pdfium raise many types for encrypted or damaged files
        reject("paper", "unreadable_pdf", f"cannot open the PDF (encrypted or damaged?): {type(error).__name__}: {error}")
        return records, rejected, 0
    found: list[tuple[Caption, int, tuple | None, list[Line]]] = []
    body: list[str] = []
    pages = 0
    try:
        if len(document.pages) > max_pages:
            reject("paper", "too_many_pages", f"{len(document.pages)} pages, more than max_pages {max_pages}: only the first "
                            f"{max_pages} are read")
        for number, page in enumerate(document.pages[:max_pages], start=1):
            pages += 1
            # Rotated labels (a y-axis title) come out letter-reversed; their position still counts.
            words = page.extract_words(keep_blank_chars=False)
            lines = make_lines([w for w in words if w.get("upright", True)])
            captions = find_captions(lines)
            caption_lines = {id(line) for c in captions for line in c.lines}
            drawings = [(o["x0"], o["top"], o["x1"], o["bottom"]) for o in
                        (*page.images, *page.rects, *page.lines, *page.curves)]
            labels = [(line.x0, line.top, line.x1, line.bottom) for line in lines
                      if id(line) not in caption_lines and not line.is_body]
            regions = []
            for caption in captions:
                box = region_of(caption, drawings + labels, float(page.width))
                regions.append(box)
                found.append((caption, number, box, lines))
            for line in sorted((line for line in lines if id(line) not in caption_lines and line.is_body),
                               key=lambda line: (line.x0 >= float(page.width) / 2 - 20, line.top)):
                inside = any(box and box[0] - 2 <= line.x0 and line.x1 <= box[2] + 2 and box[1] - 2 <= line.top
                             and line.bottom <= box[3] + 2 for box in regions)
                if not inside:
                    body.append(line.text)
        text = dehyphenate(body)
        sentences = _SENTENCE.split(text)
        bitmaps: dict = {}
        for caption, page_number, box, lines in found:
            figure_id = f"{caption.kind}{caption.number}"
            if box is None:
                reject(figure_id, "no_figure_region", f"{caption.kind} {caption.number} (page {page_number}): no drawing or image found "
                                  "next to its caption")
                continue
            image = f"images/{paper}/{figure_id}.png"
            scale = dpi / 72
            if page_number not in bitmaps:  # each page rendered once, however many figures it holds
                bitmaps[page_number] = rendered[page_number - 1].render(scale=scale).to_pil().convert("RGB")
            bitmap = bitmaps[page_number]
            crop = bitmap.crop((max(0, int((box[0] - 4) * scale)), max(0, int((box[1] - 4) * scale)),
                                int((box[2] + 4) * scale), int((box[3] + 4) * scale)))
            (Path(out_dir) / image).parent.mkdir(parents=True, exist_ok=True)
            crop.save(Path(out_dir) / image)
            inside = [line.text for line in lines if box[0] - 2 <= line.x0 and line.x1 <= box[2] + 2
                      and box[1] - 2 <= line.top and line.bottom <= box[3] + 2 and not _CAPTION.match(line.text)]
            if not inside and ocr_engine is not None:  # raster region without a text layer
                from scitune.curate.ocr import lines as ocr_lines

                inside = ocr_lines(ocr_engine.read(Path(out_dir) / image))
            names = ("Table", "Tab.") if caption.kind == "Table" else ("Figure", "Fig.", "Figs.")
            cited = re.compile(r"\b(?:" + "|".join(re.escape(n) for n in names) + r")\s*" + str(caption.number)
                               + r"(?!\d)")
            mentions = [s.strip() for s in sentences if cited.search(s)]
            records.append(FigureRecord(
                id=f"{paper}-{figure_id}", image=image, figure_type="table" if caption.kind == "Table" else None,
                caption=caption.text, ocr=inside, mentions=mentions,
                source={"dataset": DATASET, "paper_id": paper, "figure_id": figure_id, "license": "the paper's own"}))
    except Exception as error:
        reject("paper", "unreadable_pdf", f"damaged PDF: {type(error).__name__}: {error}")
    finally:
        document.close()
        rendered.close()
    return records, rejected, pages
