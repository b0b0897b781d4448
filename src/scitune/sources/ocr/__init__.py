"""Reading the text inside figures: engines behind one interface, results cached by image bytes.

`figure` (the default) runs RapidOCR's ONNX models, which pip installs, with figure-aware reading;
`rapidocr` is that library's own pipeline; `tesseract` needs the Debian package. Each returns
`Word`s (text, box, confidence, line, angle). Text layers of PDFs need no OCR: `text_layer` turns
their words into the same records.
"""

from scitune.sources.ocr.cache import DEFAULT_ENGINE, ENGINE_NAMES, OcrCache, make_engine
from scitune.sources.ocr.words import Engine, Word, lines

__all__ = ["DEFAULT_ENGINE", "ENGINE_NAMES", "Engine", "OcrCache", "Word", "lines", "make_engine"]
