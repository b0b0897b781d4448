"""Text boxes from the DB detector (PP-OCRv4), axis-aligned, at a scale chosen from the text height.

Figure text is horizontal or turned by 90° (axis labels), so boxes are axis-aligned rectangles: the
connected regions of the detector's probability map, grown back by DB's unclip ratio (the network
is trained on shrunk text regions).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from scitune.sources.ocr.glyphs import Box


@dataclass(frozen=True)
class DetectorSettings:
    target_text_height: float = 18.0
    """The image is scaled so that its median glyph is about this tall (pixels) for the detector,
    which misses small text: SciCap figures have 7-10 px digits."""
    max_scale: float = 3.0
    min_scale: float = 0.5
    max_pixels: float = 1.2e6
    """Scaled images stay under this many pixels; detection time grows with them (0.36 s at 1.1 MP)."""
    threshold: float = 0.3  # probability above which a pixel is text (DB's default)
    box_threshold: float = 0.5  # a region's mean probability must reach this to count (DB's default)
    unclip_ratio: float = 1.6  # DB's default


class TextDetector:
    def __init__(self, session, settings: DetectorSettings = DetectorSettings()):
        self.session = session
        self.settings = settings

    def scale_for(self, shape: tuple[int, int], text_height: float) -> float:
        s = self.settings
        height, width = shape
        scale = s.target_text_height / text_height if text_height > 0 else 1.0
        return float(min(max(scale, s.min_scale), s.max_scale, (s.max_pixels / (height * width)) ** 0.5))

    def __call__(self, rgb: np.ndarray, scale: float) -> list[tuple[Box, float]]:
        """(box in original pixels, mean text probability) per detected region."""
        s = self.settings
        height, width = rgb.shape[:2]
        # The network downsamples by 32.
        rows, cols = max(32, round(height * scale / 32) * 32), max(32, round(width * scale / 32) * 32)
        resized = cv2.resize(rgb, (cols, rows), interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)
        batch = ((resized.astype(np.float32) / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)[None]  # [1, 3, rows, cols]
        probability = self.session.run(None, {"x": batch})[0][0, 0]  # [rows, cols]
        mask = cv2.dilate((probability > s.threshold).astype(np.uint8), np.ones((2, 2), np.uint8))
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        sums = np.bincount(labels.ravel(), weights=probability.ravel(), minlength=count)
        sx, sy = width / cols, height / rows
        boxes = []
        for label in range(1, count):
            x, y, w, h, area = (int(v) for v in stats[label])
            score = sums[label] / area
            if min(w, h) < 3 or score < s.box_threshold:
                continue
            grow = w * h * s.unclip_ratio / (2 * (w + h))
            boxes.append(((max(0.0, (x - grow) * sx), max(0.0, (y - grow) * sy),
                           min(float(width), (x + w + grow) * sx), min(float(height), (y + h + grow) * sy)), float(score)))
        return boxes


def join_vertical(boxes: list[Box]) -> list[Box]:
    """Tall boxes that continue each other in one column become one: the detector splits long
    rotated axis labels, sometimes inside a word ("M", "aximum"). Boxes a word gap apart stay apart:
    the next label up the axis may be that close."""
    joined: list[list[float]] = []
    for box in sorted(boxes, key=lambda b: (b[0], b[1])):
        for other in joined:
            width = min(other[2] - other[0], box[2] - box[0])
            shared = min(other[2], box[2]) - max(other[0], box[0])
            gap = max(box[1] - other[3], other[1] - box[3])
            tall = (other[3] - other[1]) > (other[2] - other[0]) or (box[3] - box[1]) > (box[2] - box[0])
            if tall and shared > 0.6 * width and gap < 0.25 * width:
                other[:] = [min(other[0], box[0]), min(other[1], box[1]), max(other[2], box[2]), max(other[3], box[3])]
                break
        else:
            joined.append(list(box))
    return [tuple(b) for b in joined]


def turned_lines(detector: TextDetector, rgb: np.ndarray, tall: list[Box], scale: float) -> list[Box]:
    """Lines of turned text found again in their column turned upright, in original pixels.

    The detector was trained on horizontal text: on a y-axis label it returns pieces that split
    words ("veloc" + "ity", "Residua" + "ls"). Each column holding tall boxes is cut out across
    the whole figure height, turned clockwise so that bottom-to-top text reads left to right, and
    detected again; a strip is a few percent of the figure, so this costs little.
    """
    height, width = rgb.shape[:2]
    found: list[Box] = []
    for x0, x1 in _columns(tall):
        pad = x1 - x0
        left, right = int(max(0, x0 - pad / 2)), int(min(width, np.ceil(x1 + pad / 2)))
        strip = np.rot90(rgb[:, left:right], -1)  # [strip width, figure height, 3]
        # A margin of background on both sides: the detector misses text at an image's very edge,
        # where y-axis labels of cropped figures often sit.
        background = np.median(np.concatenate([strip[0], strip[-1]]), axis=0).astype(np.uint8)
        margin = int(pad)
        framed = np.empty((strip.shape[0] + 2 * margin, strip.shape[1], 3), np.uint8)
        framed[:] = background
        framed[margin:margin + strip.shape[0]] = strip
        for (a0, b0, a1, b1), _ in detector(framed, scale):
            if a1 - a0 <= b1 - b0:  # upright in the turned strip: horizontal text of the figure
                continue
            b0, b1 = max(0.0, b0 - margin), min(float(strip.shape[0]), b1 - margin)
            # Turned clockwise: strip column a is figure row (height - a), strip row b is figure column (left + b).
            found.append((left + b0, height - a1, left + b1, height - a0))
    return found


def _columns(boxes: list[Box]) -> list[tuple[float, float]]:
    """x-ranges covered by overlapping boxes."""
    spans: list[list[float]] = []
    for x0, _, x1, _ in sorted(boxes):
        if spans and x0 <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], x1)
        else:
            spans.append([x0, x1])
    return [tuple(s) for s in spans]


def split_stacked(rgb: np.ndarray, boxes: list[Box], text_height: float) -> list[Box]:
    """Horizontal boxes two or more lines tall cut into their lines at blank rows.

    On small figures the detector merges a tick label with the axis title under it ("5" over
    "Months") into one region, which the recogniser then reads as one line and loses the label.
    """
    from scitune.sources.ocr.glyphs import ink_mask

    out: list[Box] = []
    for box in boxes:
        x0, y0, x1, y1 = (int(box[0]), int(box[1]), int(np.ceil(box[2])), int(np.ceil(box[3])))
        if y1 - y0 <= 2.2 * text_height or y1 - y0 > x1 - x0:
            out.append(box)
            continue
        ink = ink_mask(rgb[y0:y1, x0:x1])
        inked = np.flatnonzero(ink.any(axis=1))
        # Lines are apart by a blank of a quarter text height or more (a faint row inside a
        # blurred digit is not a gap); bands thinner than 0.6 text heights are rules or tick marks.
        gap = max(2.0, 0.25 * text_height)
        cuts = np.flatnonzero(np.diff(inked) > gap)
        bands = [(int(part[0]), int(part[-1]) + 1) for part in np.split(inked, cuts + 1) if len(part)]
        bands = [(top, bottom) for top, bottom in bands if bottom - top >= 0.6 * text_height]
        if len(bands) < 2:
            out.append(box)
            continue
        pad = 0.3 * text_height
        for top, bottom in bands:
            columns = np.flatnonzero(ink[top:bottom].any(axis=0))
            out.append((max(0.0, x0 + columns[0] - pad), max(0.0, y0 + top - pad),
                        min(float(rgb.shape[1]), x0 + columns[-1] + 1 + pad), min(float(rgb.shape[0]), y0 + bottom + pad)))
    return out
