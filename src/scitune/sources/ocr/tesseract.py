"""Tesseract through its command line (Debian: tesseract-ocr, tesseract-ocr-eng): an optional engine.

Figures are read in grey and enlarged first (×2 below 2000 px): axis labels are small and often sit
on coloured bars; on our rendered figures this alone raises Tesseract's word recall from 16% to 42%.
Boxes are given in the original image's pixels.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import tempfile
from pathlib import Path

from PIL import Image

from scitune.sources.ocr.words import Word

INSTALL_HINT = "apt-get install tesseract-ocr tesseract-ocr-eng"


def tesseract_available() -> bool:
    return shutil.which("tesseract") is not None


class Tesseract:
    """The `tesseract` command, TSV output, sparse-text mode (page segmentation 11)."""

    name = "tesseract"
    # Its junk falls under 5% only from 90 (benchmarks/ocr_accuracy.py: real figures 4.0% at 90,
    # 7.6% at 80; figure PDFs 3.6% at 90).
    target_confidence = 90.0

    def __init__(self, language: str = "eng", psm: int = 11, min_confidence: float = 40.0, scale: int = 2):
        self.binary = shutil.which("tesseract")
        if self.binary is None:
            raise ValueError(f"OCR engine 'tesseract' needs the tesseract command: {INSTALL_HINT} "
                             "(or choose the default engine 'figure', which pip installs)")
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
                                capture_output=True, text=True, timeout=120, check=False)
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
