"""Every figure corpus behind one call: `read_figures(format, path)` → FigureRecords and Rejections."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from scitune.contracts import FigureRecord, Rejection
from scitune.sources.arxivcap import read_arxivcap
from scitune.sources.folder import read_folder
from scitune.sources.scicap import read_scicap_challenge, read_scicap_original
from scitune.sources.vistext import read_vistext

FORMATS = ("scicap-challenge", "scicap", "vistext", "arxivcap", "folder", "records")


def detect_format(path: Path) -> str:
    """Guess the format of PATH from its layout and first bytes; ValueError when it is none of them."""
    path = Path(path)
    if path.is_dir():
        if (path / "metadata.jsonl").is_file() or (path / "metadata.csv").is_file():
            return "folder"
        if any(path.glob("*.parquet")):
            return "arxivcap"
        if any(path.rglob("*.json")):
            return "scicap"
    elif path.suffix == ".parquet":
        return "arxivcap"
    elif path.suffix == ".jsonl":
        return "records"
    elif path.suffix == ".json":
        with open(path, "rb") as handle:
            head = handle.read(4096).lstrip()
        if head.startswith(b"["):
            return "vistext"
        if head.startswith(b"{") and (b'"images"' in head or b'"annotations"' in head):
            return "scicap-challenge"
        if head.startswith(b"{") and b'"figure-ID"' in head:
            return "scicap"
    raise ValueError(f"cannot tell the format of {path}; pass --format ({', '.join(FORMATS)})")


def read_records_jsonl(path: Path) -> Iterator[FigureRecord | Rejection]:
    """FigureRecord JSONL (our own contract); a bad line is rejected, not fatal."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                yield FigureRecord.model_validate(json.loads(raw.decode("utf-8")))
            except UnicodeDecodeError:
                yield Rejection(id=str(number), dataset=path.stem, where=f"{path.name}:{number}",
                                kind="invalid_utf8", reason="text is not valid UTF-8")
            except ValueError as error:
                yield Rejection(id=str(number), dataset=path.stem, where=f"{path.name}:{number}",
                                kind="invalid_record", reason=f"not a valid FigureRecord: {str(error).splitlines()[0]}")


def open_figures(fmt: str, path: Path, image_root: Path | None = None,
                 work_dir: Path | None = None) -> tuple[Iterator[FigureRecord | Rejection], Path]:
    """The records of a corpus and the folder their image paths are relative to: IMAGE_ROOT when
    given, else the corpus folder; ArxivCap, whose images live inside its shards, writes them to
    IMAGE_ROOT or WORK_DIR/images."""
    path = Path(path)
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "arxivcap":
        if image_root is None and work_dir is None:
            raise ValueError("ArxivCap stores images inside its shards: give a folder to write them to")
        root = Path(image_root or Path(work_dir) / "images")
        return read_figures(fmt, path, image_dir=root), root
    return read_figures(fmt, path), Path(image_root or (path if path.is_dir() else path.parent))


def read_figures(fmt: str, path: Path, image_dir: Path | None = None) -> Iterator[FigureRecord | Rejection]:
    """Records of PATH in format FMT ('auto' detects it). ArxivCap writes its images into IMAGE_DIR."""
    path = Path(path)
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "scicap-challenge":
        return read_scicap_challenge(path)
    if fmt == "scicap":
        return read_scicap_original(path)
    if fmt == "vistext":
        return read_vistext(path)
    if fmt == "arxivcap":
        if image_dir is None:
            raise ValueError("ArxivCap stores images inside its shards: give a folder to write them to")
        shards = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
        return read_arxivcap(shards, image_dir)
    if fmt == "folder":
        return read_folder(path)
    if fmt == "records":
        return read_records_jsonl(path)
    raise ValueError(f"unknown format {fmt!r}: choose auto or one of {', '.join(FORMATS)}")
