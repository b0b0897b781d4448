"""RapidOCR's ONNX models, from pip packages that ship them: nothing is downloaded at run time.

`rapidocr-onnxruntime` 1.4 ships PP-OCRv4 (detector and recogniser); `rapidocr` 3.10 ships the
PP-OCRv6 small recogniser, whose charset has the Greek letters and math signs PP-OCRv4's lacks
(γ δ Δ λ ν σ φ ψ ∂ ∝; both have α β μ θ π Ω ± ≤ ≥ ⊙). `make` installs both; the second without
its dependencies (it is only a carrier of model files here, like the embedded LM's package).

Two engines stand on them: `RapidOcr`, the library's own pipeline as it comes (a baseline in the
benchmark), and the figure engine in `figure.py`, which calls the detection and recognition models
through onnxruntime but reads the way figures are laid out.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from scitune.sources.ocr.words import Word

PACKAGE = "rapidocr_onnxruntime"
INSTALL_HINT = "pip install rapidocr-onnxruntime"
DETECTION_MODEL = "ch_PP-OCRv4_det_infer.onnx"  # DB text detector, PP-OCRv4
RECOGNITION_MODEL = "ch_PP-OCRv4_rec_infer.onnx"  # SVTR-LCNet CTC recogniser, Chinese + English charset
RECOGNISERS = {
    # name: (import name of the package that ships it, pip requirement, file in its models/ folder)
    "PP-OCRv4": (PACKAGE, "rapidocr-onnxruntime", RECOGNITION_MODEL),
    "PP-OCRv6": ("rapidocr", "--no-deps rapidocr==3.10.0", "PP-OCRv6_rec_small.onnx"),
}
"""Recognisers the figure engine can use (`FigureOcrSettings.recogniser`); each ONNX file carries its
charset in its metadata."""


def model_file(name: str, package: str = PACKAGE, requirement: str = "rapidocr-onnxruntime") -> Path:
    """A model file inside an installed package, found without importing the package."""
    hint = f"pip install {requirement}"
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"the OCR model {name} comes with the package {package}, which is not installed: {hint}")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / name
    if not path.is_file():
        raise ValueError(f"OCR model {path} is missing: {hint} --force-reinstall")
    return path


def recogniser_file(name: str) -> Path:
    """The ONNX file of one of RECOGNISERS."""
    if name not in RECOGNISERS:
        raise ValueError(f"unknown OCR recogniser {name!r}; choose one of {', '.join(RECOGNISERS)}")
    package, requirement, file = RECOGNISERS[name]
    return model_file(file, package, requirement)


def rapidocr_available() -> bool:
    return importlib.util.find_spec(PACKAGE) is not None


def onnx_session(name: str | Path, threads: int = 1, fused: bool = True):
    """An onnxruntime CPU session on one of rapidocr-onnxruntime's models (or a model file's path),
    FUSED by default (fuse.py: the same outputs, ~40% less CPU time).

    One thread by default: curation reads figures in parallel processes, one per core, and a second
    intra-op thread per process made each figure slower here (2 cores, measured 0.83 s vs 0.67 s).
    """
    import onnxruntime

    from scitune.sources.ocr.fuse import fused_model

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    path = name if isinstance(name, Path) else model_file(name)
    model = fused_model(path) if fused else str(path)
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


class RapidOcr:
    """RapidOCR's own pipeline (detection + angle classifier + recognition), one Word per detected line."""

    name = "rapidocr"
    target_confidence = 50.0

    def __init__(self, min_confidence: float = 50.0):
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError:
            raise ValueError(f"OCR engine 'rapidocr' needs: {INSTALL_HINT}") from None
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
