"""Characters of a PDF's text layer that the page does not show.

A figure's text layer can hold words no reader sees: the tick labels of a panel drawn under the
panel below it (the shared axes of a stacked plot: Kepler paper, Figures 7 and 8), labels clipped
away, text in the background colour. The page is rendered a second time with every text object
made invisible (`FPDFTextObj_SetTextRenderMode`); a character whose box renders the same either
way shows nothing. Pages with invisible text of their own (a scan with an OCR layer) are left
alone: that text is the only reading of what the scan shows.
"""

from __future__ import annotations

import numpy as np

SHOWN = 16
"""A character shows when some pixel of its box differs by this much (0-255) without the text."""


def text_ink(document, page_number: int, dpi: int, rendered=None) -> np.ndarray | None:
    """Per pixel of page PAGE_NUMBER of DOCUMENT (pypdfium2) rendered at DPI, how much its text
    changes it (0-255); None for a page with invisible text (a scan's OCR layer). RENDERED: the
    page's RGB rendering at DPI when one was made already (`pdf.crop`'s). The text is made
    invisible for the second rendering and given its render modes back."""
    import pypdfium2.raw as raw

    page = document[page_number - 1]
    texts = [obj for obj in page.get_objects(max_depth=16) if obj.type == raw.FPDF_PAGEOBJ_TEXT]
    modes = [raw.FPDFTextObj_GetTextRenderMode(obj) for obj in texts]
    if raw.FPDF_TEXTRENDERMODE_INVISIBLE in modes:
        return None
    shown = _gray(rendered if rendered is not None else render(page, dpi))
    try:
        for obj in texts:
            raw.FPDFTextObj_SetTextRenderMode(obj, raw.FPDF_TEXTRENDERMODE_INVISIBLE)
        bare = _gray(render(page, dpi))
    finally:
        for obj, mode in zip(texts, modes):
            raw.FPDFTextObj_SetTextRenderMode(obj, mode)
    return np.abs(shown - bare)


def render(page, dpi: int):
    """PAGE (pypdfium2) as an RGB PIL image at DPI: the one rendering `pdf.crop` and `text_ink` share."""
    return page.render(scale=dpi / 72).to_pil().convert("RGB")


def hidden_chars(ink: np.ndarray, chars: list, dpi: int) -> set[int]:
    """The ids of the CHARS (pdf_layout.Char, top-down points) whose boxes the text's INK (`text_ink`
    at DPI) leaves unchanged."""
    scale = dpi / 72
    hidden = set()
    for char in chars:
        x0, y0 = max(0, int(char.x0 * scale)), max(0, int(char.top * scale))
        x1, y1 = min(ink.shape[1], int(char.x1 * scale) + 1), min(ink.shape[0], int(char.bottom * scale) + 1)
        if x1 > x0 and y1 > y0 and ink[y0:y1, x0:x1].max() < SHOWN:
            hidden.add(id(char))
    return hidden


def _gray(image) -> np.ndarray:
    return np.asarray(image.convert("L"), dtype=np.int16)
