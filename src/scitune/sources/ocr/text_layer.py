"""Words of a PDF's text layer as OCR `Word`s: a figure included as vector PDF needs no OCR.

For the papers reader (figures cropped from PDF pages, vector PDF graphics in LaTeX sources) and
for the benchmark, which uses the text layer of real figure PDFs as the truth for OCR.
"""

from __future__ import annotations

from scitune.sources.ocr.words import Word

TEXT_LAYER = "text_layer"
"""The `source` a reader records when the words came from the text layer, not from an engine."""


def text_layer_words(page, region: tuple[float, float, float, float] | None = None, scale: float = 1.0) -> list[Word]:
    """The words of a pdfplumber PAGE inside REGION (PDF points, x0, top, x1, bottom; None: the page's
    visible box), with boxes in pixels of a rendering at SCALE pixels per point (pypdfium2's `render(scale=)`).

    Rotated words (axis labels) come out in reading order (`char_dir_rotated="btt"`), not reversed
    as in plain `extract_words`; their angle is 90. Confidence is 100: the text is exact.
    """
    # Words outside the page's visible box exist in some figure PDFs (a plot cropped by its page
    # box); they are not in the rendering.
    x0, top, x1, bottom = region if region is not None else page.bbox
    words = [w for w in page.extract_words(char_dir_rotated="btt")
             if w["x0"] >= x0 - 1 and w["x1"] <= x1 + 1 and w["top"] >= top - 1 and w["bottom"] <= bottom + 1]
    origin = (x0, top)
    lines: dict[tuple, int] = {}
    found = []
    for w in sorted(words, key=lambda w: (not w["upright"], round(w["top"]), w["x0"])):
        # A line: upright words sharing a baseline band, or rotated words sharing a column.
        key = ("h", round(w["bottom"] / 2)) if w["upright"] else ("v", round(w["x0"] / 2))
        line = lines.setdefault(key, len(lines))
        box = tuple(round((v - o) * scale) for v, o in zip((w["x0"], w["top"], w["x1"], w["bottom"]), origin * 2))
        found.append(Word(w["text"], box, 100.0, line, 0 if w["upright"] else 90))
    return found
