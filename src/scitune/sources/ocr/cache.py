"""Engines by name, and OCR results cached on disk by engine, settings and image bytes."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

from scitune.sources.ocr.words import Engine, Word, lines
from scitune.sources.images import file_digest

DEFAULT_ENGINE = "figure"
ENGINE_NAMES = ("figure", "rapidocr", "tesseract", "figure+tesseract")
"""figure: RapidOCR's models read as figures are laid out (default, pip); rapidocr: RapidOCR's own
pipeline as it comes; tesseract: the Debian `tesseract` command (optional); figure+tesseract: the
figure engine's unsure words confirmed where Tesseract reads the same (optional, slower)."""


def make_engine(name: str) -> Engine | None:
    """An engine by name; 'none' gives None (records keep the OCR they carry, or none)."""
    if name == "none":
        return None
    # Imported on demand: onnxruntime and OpenCV take a moment to load, and a command that never
    # reads a figure should not pay for them.
    if name == "figure":
        from scitune.sources.ocr.figure import FigureOcr

        return FigureOcr()
    if name == "rapidocr":
        from scitune.sources.ocr.rapid import RapidOcr

        return RapidOcr()
    if name == "tesseract":
        from scitune.sources.ocr.tesseract import Tesseract

        return Tesseract()
    if name == "figure+tesseract":
        from scitune.sources.ocr.agreement import FigureWithTesseract

        return FigureWithTesseract()
    raise ValueError(f"unknown OCR engine {name!r}: choose {', '.join(ENGINE_NAMES)} or none")


class OcrCache:
    """OCR results on disk, one JSON per (engine, settings, image hash).

    The cache key is the engine, its settings and the SHA-1 of the image bytes: the same figure
    under two names is read once, and an edited figure is read again. Every word is kept with its
    box and confidence; `target_lines` applies the engine's target confidence.
    """

    def __init__(self, engine: Engine, folder: Path):
        self.engine = engine
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.hits = self.misses = 0

    def read(self, path: Path, context: str = "") -> list[Word]:
        """The words of the image at PATH. CONTEXT, text written about the figure (its caption,
        mentions), lets an engine that takes a lexicon (the figure engine) correct near-misses
        from it; it is part of the cache key, and ignored by engines without one."""
        lexicon = None
        key = f"{self.engine.name}-{self.engine.settings()}-{file_digest(path)}"
        if context.strip() and getattr(self.engine, "takes_lexicon", False):
            from scitune.sources.ocr.lexicon import Lexicon

            lexicon = Lexicon.from_text(context)
            key += f"-lex{lexicon.digest()}"
        cached = self.folder / f"{key}.json"
        if cached.is_file():
            self.hits += 1
            return [Word(w["text"], tuple(w["box"]), w["confidence"], w["line"], w.get("angle", 0))
                    for w in json.loads(cached.read_text(encoding="utf-8"))]
        self.misses += 1
        words = self.engine.read(path, lexicon) if lexicon is not None else self.engine.read(path)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")  # parallel workers may read the same image
        tmp.write_text(json.dumps([asdict(w) for w in words], ensure_ascii=False), encoding="utf-8")
        tmp.replace(cached)
        return words

    def target_lines(self, path: Path, context: str = "") -> list[str]:
        """The lines a training target may use: words at or above the engine's target confidence."""
        return lines(self.read(path, context), self.engine.target_confidence)
