"""Glyph-sized marks of ink: the text height of a figure and text candidates the detector misses.

The DB text detector reliably finds words and lines, but often misses a lone tick label ("0", "7")
next to an axis. Connected components of ink, after long straight lines (axes, grid lines, legend
samples) are removed, find those: each component of character size is a glyph, and glyphs side by
side on one baseline form a candidate. Their median height also tells how small the figure's text
is, which sets how much the image is enlarged for detection.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels

MAX_GLYPHS = 4000
"""Beyond this many components (a dense scatter plot) only the first are grouped: the grouping is
quadratic in the worst case, and figures with that much ink carry their text in the detector's boxes."""


@dataclass(frozen=True)
class GlyphScan:
    candidates: list[Box]  # groups of glyphs on one baseline, in original pixels
    text_height: float  # median candidate height in pixels; 0.0 when no glyph was found
    bars: tuple[Box, ...] = ()  # flat marks of minus-sign shape, for boxes that start at a number's first digit


def ink_mask(rgb: np.ndarray, contrast: int = 70, saturation: int = 90) -> np.ndarray:
    """[H, W] uint8, 1 where a pixel differs from the background (the most common grey level) or is coloured."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    background = int(np.bincount(grey.ravel(), minlength=256).argmax())
    differs = np.abs(grey.astype(np.int16) - background) > contrast
    # Coloured text on white (yellow, light green) changes luminance little but saturation a lot.
    coloured = (rgb.max(axis=2).astype(np.int16) - rgb.min(axis=2)) > saturation
    return (differs | coloured).astype(np.uint8)


def remove_lines(ink: np.ndarray, length: int) -> np.ndarray:
    """The ink less every horizontal or vertical run of at least LENGTH pixels (axes, grids, frames)."""
    horizontal = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (length, 1)))
    vertical = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, length)))
    return ink & (1 - (horizontal | vertical))


def scan_glyphs(rgb: np.ndarray) -> GlyphScan:
    """Candidate text boxes from connected components of glyph size, and the figure's text height."""
    height, width = rgb.shape[:2]
    # A character is rarely wider or taller than 3.5% of a figure's longer side; lines are longer.
    line_length = max(12, int(0.035 * max(height, width)))
    clean = remove_lines(ink_mask(rgb), line_length)
    count, _, stats, _ = cv2.connectedComponentsWithStats(clean, connectivity=8)
    tallest = max(8, int(0.08 * min(height, width)))
    glyphs = sorted(
        (int(x), int(y), int(x + w), int(y + h)) for x, y, w, h, _ in stats[1:count]
        if 4 <= h <= tallest and w <= 2.5 * h and w <= line_length
    )[:MAX_GLYPHS]
    groups: list[list[int]] = []
    active: list[list[int]] = []  # the groups a glyph can still continue, in the order they were made
    for number, (x0, y0, x1, y1) in enumerate(glyphs):  # sorted by x0: a glyph joins the group it continues to the right
        if number % 32 == 0:
            # A group ending more than 0.6 heights (its own, or the tallest glyph's) left of this
            # glyph can take no later one: without this, scatter plots' thousands of markers made
            # the grouping quadratic (0.4 s of a figure's 0.5).
            active = [g for g in active if x0 - g[2] <= 0.6 * max(g[3] - g[1], tallest)]
        h = y1 - y0
        for group in active:
            gh = group[3] - group[1]
            overlap = min(group[3], y1) - max(group[1], y0)
            if (overlap >= 0.5 * min(gh, h) and abs(gh - h) < 0.6 * max(gh, h)
                    and -2 <= x0 - group[2] <= 0.6 * max(gh, h)):
                group[:] = [min(group[0], x0), min(group[1], y0), max(group[2], x1), max(group[3], y1)]
                break
        else:
            groups.append([x0, y0, x1, y1])
            active.append(groups[-1])
    bars = [(float(x), float(y), float(x + w), float(y + h)) for x, y, w, h, _ in stats[1:count]
            if h <= 0.25 * w and 3 <= w <= line_length][:MAX_GLYPHS]
    groups = [list(with_minus_sign(tuple(g), bars, g[3] - g[1])) for g in groups]
    text_height = float(np.median([g[3] - g[1] for g in groups])) if groups else 0.0
    return GlyphScan([tuple(float(v) for v in g) for g in groups], text_height, tuple(bars))


def minus_sign(box: Box, bars, glyph_height: float, reach: float = 0.0, middle: float = 0.2) -> Box | None:
    """The flat bar just left of BOX that is its minus sign ("-1"), or None: it starts left of the
    box and ends at most half a glyph height before it (or REACH into it: a detector's box starts a
    few pixels before its first digit), no wider than 1.2 glyph heights, its centre within MIDDLE
    glyph heights of the box's middle height. Too flat to be a glyph, a minus sign is otherwise left
    out of the box."""
    centre = (box[1] + box[3]) / 2
    for bar in bars:
        x0, y0, x1, y1 = bar
        if (x0 < box[0] and box[0] - 0.5 * glyph_height <= x1 <= box[0] + reach and x1 - x0 <= 1.2 * glyph_height
                and abs((y0 + y1) / 2 - centre) <= middle * glyph_height):
            return bar
    return None


def with_minus_sign(box: Box, bars, glyph_height: float) -> Box:
    """A glyph group grown left over its minus sign (see minus_sign)."""
    bar = minus_sign(box, bars, glyph_height)
    return box if bar is None else (min(box[0], bar[0] - 0.15 * glyph_height), box[1], box[2], box[3])
