"""Words of a PDF's text layer as OCR `Word`s: a figure included as vector PDF needs no OCR.

For the papers reader (figures cropped from PDF pages, vector PDF graphics in LaTeX sources) and
for the benchmark, which uses the text layer of real figure PDFs as the truth for OCR. A vector
figure's layer can still lack words: labels drawn as paths (planet names, minus signs of mathtext
tick labels, a raster panel inside the figure); `fill_in` completes it with what an OCR engine reads.
"""

from __future__ import annotations

from scitune.sources.ocr.words import Word, intersection, lines

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


LayerWord = tuple[str, tuple[float, float, float, float]]
"""A word of a text layer and its box in pixels of the image an engine reads."""


def fill_in(layer: list[list[LayerWord]], words: list[Word], min_confidence: float,
            context: list[LayerWord] = (), share: float = 0.25, completing: float = 0.5) -> tuple[list[str], int]:
    """The lines of a figure's text LAYER completed by what an engine read in its image (WORDS at or
    above MIN_CONFIDENCE); the count of words the engine gave. CONTEXT: the page's other words in
    the image (running text the crop cuts in), which the engine's words do not add to the figure.

    - A layer word (or run of words) inside an engine word that reads all of its characters, in
      order, and more (no digits or points: `_NOT_DRAWN`), takes the engine's reading: the rest was drawn as paths (the minus of a
      mathtext tick label "−70.5", a Greek letter of a legend "p(x|ψ)", the Δ of "Δmag"). The layer
      vouches for most of such a word, so COMPLETING times MIN_CONFIDENCE is enough: an engine is
      unsure of the Greek letters it reads, not of the rest.
    - An engine word that shares less than SHARE of its box with the layer's words is added, in
      lines of its own after the layer's, when it has two characters or more, one a letter or
      digit (a planet's name drawn as paths). Next to a layer that holds the labels, what an engine
      finds in one character is mostly a plot's marks: circle markers read "0", crosses "+".
    """
    texts = [[text for text, _ in line] for line in layer]
    boxes = [box for line in layer for _, box in line]
    blocked = boxes + [box for _, box in context]
    where = [(i, j) for i, line in enumerate(layer) for j in range(len(line))]
    gave = 0
    added: list[Word] = []
    for word in words:
        if word.confidence < completing * min_confidence:
            continue
        # Left to right, as the engine reads: a superscript's line comes before its base's.
        inside = sorted((k for k, box in enumerate(boxes) if _contains(word.box, box)), key=lambda k: boxes[k][0])
        if inside:
            held = "".join(texts[where[k][0]][where[k][1]] for k in inside)
            if len(word.text) > len(held) and _adds_only_drawn_signs(held, word.text):
                # In the first word's place; the others may be in lines of their own (a superscript
                # whose minus sign is drawn: "d" and "1" of "d−1").
                line, first = where[inside[0]]
                texts[line][first] = word.text
                for k in inside[1:]:
                    texts[where[k][0]][where[k][1]] = ""
                gave += 1
            continue
        if word.confidence < min_confidence or len(word.text) < 2 or not any(ch.isalnum() for ch in word.text):
            continue
        x0, y0, x1, y1 = word.box
        area = max(1, (x1 - x0) * (y1 - y0))
        if sum(intersection(word.box, box) for box in blocked) < share * area:
            added.append(word)
    gave += len(added)
    return [" ".join(t for t in line if t) for line in texts] + lines(added), gave


def _contains(outer, inner) -> bool:
    """Whether the centre of box INNER lies in box OUTER."""
    x, y = (inner[0] + inner[2]) / 2, (inner[1] + inner[3]) / 2
    return outer[0] <= x <= outer[2] and outer[1] <= y <= outer[3]


_NOT_DRAWN = set("0123456789.,;:'")
"""Characters an engine may not add to a layer's word: digits and points of numbers the layer holds
exactly ("0.0" read "0.01", "5" read "5." next to a tick are the engine's noise)."""


def _adds_only_drawn_signs(held: str, read: str) -> bool:
    """Whether READ is HELD (in order) with characters added that a figure draws as paths: signs,
    letters, symbols; no digits or points (`_NOT_DRAWN`)."""
    added, at = [], 0
    for ch in read:
        if at < len(held) and ch == held[at]:
            at += 1
        else:
            added.append(ch)
    return at == len(held) and not _NOT_DRAWN.intersection(added)
