"""OCR behind one small interface: Tesseract (default) and RapidOCR, results cached by image hash.

An engine returns the words or lines it found with their boxes (Tesseract: words, grouped into
lines for the record; RapidOCR: lines, as its detector finds them). The record's `ocr` field gets
the line texts in reading order; the cache keeps the boxes, so a later layout-aware use needs no
second pass. The cache key is the engine, its settings and the SHA-1 of the image bytes: the same
figure under two names is read once, and an edited figure is read again.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from PIL import Image

from scitune.sources.images import file_digest


@dataclass(frozen=True)
class Word:
    """One piece of text the engine found: a word (Tesseract) or a line (RapidOCR)."""

    text: str
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels
    confidence: float  # 0-100
    line: int  # pieces with the same number form one line


class Engine(Protocol):
    name: str

    def settings(self) -> str: ...

    def read(self, path: Path) -> list[Word]: ...


def lines(words: list[Word]) -> list[str]:
    """Line texts in reading order."""
    grouped: dict[int, list[str]] = {}
    for word in words:
        grouped.setdefault(word.line, []).append(word.text)
    return [" ".join(parts) for _, parts in sorted(grouped.items()) if " ".join(parts).strip()]


class Tesseract:
    """The `tesseract` command (Debian: tesseract-ocr, tesseract-ocr-eng), TSV output, sparse-text mode.

    Figures are read in grey and enlarged first (×2 below 2000 px): axis labels are small and often
    sit on coloured bars; on our rendered figures this alone raises Tesseract's word recall from 16%
    to 42% (benchmarks/ocr_accuracy.py). Boxes are given in the original image's pixels.
    """

    name = "tesseract"

    def __init__(self, language: str = "eng", psm: int = 11, min_confidence: float = 40.0, scale: int = 2):
        self.binary = shutil.which("tesseract")
        if self.binary is None:
            raise ValueError("OCR engine 'tesseract' needs the tesseract command: apt-get install tesseract-ocr "
                             "tesseract-ocr-eng (or choose --ocr rapidocr / --ocr none)")
        self.language, self.psm, self.min_confidence, self.scale = language, psm, min_confidence, scale

    def settings(self) -> str:
        return f"{self.language}-psm{self.psm}-conf{self.min_confidence:g}-x{self.scale}"

    def read(self, path: Path) -> list[Word]:
        with tempfile.TemporaryDirectory() as tmp:
            with Image.open(path) as image:
                grey = image.convert("L")
            scale = self.scale if max(grey.size) * self.scale <= 4000 else 1
            if scale > 1:
                grey = grey.resize((grey.width * scale, grey.height * scale), Image.Resampling.LANCZOS)
            prepared = Path(tmp) / "page.png"
            grey.save(prepared)
            return self._read(prepared, scale, path.name)

    def _read(self, path: Path, scale: int, name: str) -> list[Word]:
        result = subprocess.run([self.binary, str(path), "stdout", "-l", self.language, "--psm", str(self.psm), "tsv"],
                                capture_output=True, text=True, timeout=120)
        if result.returncode:
            raise ValueError(f"tesseract failed on {name}: {result.stderr.strip()[:200]}")
        words, line_ids = [], {}
        for row in csv.DictReader(io.StringIO(result.stdout), delimiter="\t", quoting=csv.QUOTE_NONE):
            text = (row.get("text") or "").strip()
            if row.get("level") != "5" or not text or float(row["conf"]) < self.min_confidence:
                continue
            key = (row["block_num"], row["par_num"], row["line_num"])
            line = line_ids.setdefault(key, len(line_ids))
            left, top, width, height = (int(row[k]) // scale for k in ("left", "top", "width", "height"))
            words.append(Word(text, (left, top, left + width, top + height), float(row["conf"]), line))
        return words


class RapidOcr:
    """RapidOCR (pip `rapidocr-onnxruntime`, ships its ONNX models): detection + recognition, lines."""

    name = "rapidocr"

    def __init__(self, min_confidence: float = 50.0):
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError:
            raise ValueError("OCR engine 'rapidocr' needs: pip install rapidocr-onnxruntime") from None
        self.engine = RapidOCR()
        self.min_confidence = min_confidence

    def settings(self) -> str:
        return f"conf{self.min_confidence:g}"

    def read(self, path: Path) -> list[Word]:
        found, _ = self.engine(str(path))
        words = []
        for number, (quad, text, score) in enumerate(found or []):
            if 100 * float(score) < self.min_confidence or not text.strip():
                continue
            xs, ys = [p[0] for p in quad], [p[1] for p in quad]
            words.append(Word(text.strip(), (int(min(xs)), int(min(ys)), int(max(xs)), int(max(ys))),
                              round(100 * float(score), 1), number))
        # The detector lists boxes roughly top to bottom; sort them so lines read in order.
        ordered = sorted(words, key=lambda w: (w.box[1] // 10, w.box[0]))
        return [Word(w.text, w.box, w.confidence, n) for n, w in enumerate(ordered)]


ENGINES = {"tesseract": Tesseract, "rapidocr": RapidOcr}


def make_engine(name: str) -> Engine | None:
    """An engine by name; 'none' gives None (records keep the OCR they carry, or none)."""
    if name == "none":
        return None
    if name not in ENGINES:
        raise ValueError(f"unknown OCR engine {name!r}: choose {', '.join(ENGINES)} or none")
    return ENGINES[name]()


class OcrCache:
    """OCR results on disk, one JSON per (engine, settings, image hash)."""

    def __init__(self, engine: Engine, folder: Path):
        self.engine = engine
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.hits = self.misses = 0

    def read(self, path: Path) -> list[Word]:
        key = f"{self.engine.name}-{self.engine.settings()}-{file_digest(path)}.json"
        cached = self.folder / key
        if cached.is_file():
            self.hits += 1
            return [Word(w["text"], tuple(w["box"]), w["confidence"], w["line"])
                    for w in json.loads(cached.read_text(encoding="utf-8"))]
        self.misses += 1
        words = self.engine.read(path)
        tmp = cached.with_suffix(".tmp")
        tmp.write_text(json.dumps([asdict(w) for w in words], ensure_ascii=False), encoding="utf-8")
        tmp.replace(cached)
        return words
