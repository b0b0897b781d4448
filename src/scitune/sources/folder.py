"""A plain folder of figures: images plus `metadata.jsonl` or `metadata.csv` beside them.

Columns: `image` (path relative to the folder) and `caption` are required; `id`, `figure_type`
(or `type`), `ocr`, `mentions`, `paragraphs`, `paper_id`, `license` are optional. In CSV, list
fields are separated by ' | '. Lines are decoded one by one, so a line that is not UTF-8 is
rejected alone.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

from scitune.contracts import FigureRecord, Rejection
from scitune.sources.streams import BAD_TEXT, texts


def metadata_file(folder: Path) -> Path:
    for name in ("metadata.jsonl", "metadata.csv"):
        if (Path(folder) / name).is_file():
            return Path(folder) / name
    raise ValueError(f"{folder} has no metadata.jsonl or metadata.csv")


def read_folder(folder: Path, dataset: str | None = None) -> Iterator[FigureRecord | Rejection]:
    folder = Path(folder)
    path = metadata_file(folder)
    dataset = dataset or folder.name
    rows = _jsonl_rows(path) if path.suffix == ".jsonl" else _csv_rows(path)
    for number, row in rows:
        where = f"{path.name}:{number}"
        row_id = str(row.get("id") or number) if isinstance(row, dict) else str(number)
        if isinstance(row, tuple):  # (kind, reason) of a line that could not be read
            yield Rejection(id=row_id, dataset=dataset, where=where, kind=row[0], reason=row[1])
            continue
        image, caption = row.get("image"), row.get("caption")
        if not image or not isinstance(image, str):
            yield Rejection(id=row_id, dataset=dataset, where=where, kind="no_image_path", reason="no 'image' path")
            continue
        split = (lambda v: [t for t in v.split(" | ") if t.strip()]) if path.suffix == ".csv" else texts
        yield FigureRecord(
            id=f"{dataset}-{row_id}", image=image, figure_type=row.get("figure_type") or row.get("type") or None,
            caption=" ".join(texts(caption)), ocr=split(row.get("ocr") or []) if row.get("ocr") else [],
            mentions=split(row.get("mentions")) if row.get("mentions") else [],
            paragraphs=split(row.get("paragraphs")) if row.get("paragraphs") else [],
            source={"dataset": dataset, "paper_id": str(row.get("paper_id") or Path(image).stem),
                    "figure_id": Path(image).stem, "license": str(row.get("license") or "unknown")},
        )


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict | tuple[str, str]]]:
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                yield number, ("invalid_utf8", "text is not valid UTF-8")
                continue
            except json.JSONDecodeError as error:
                yield number, ("invalid_json", f"not valid JSON: {error}")
                continue
            yield number, row if isinstance(row, dict) else ("invalid_row", "line is not a JSON object")


def _csv_rows(path: Path) -> Iterator[tuple[int, dict | tuple[str, str]]]:
    text = io.TextIOWrapper(open(path, "rb"), encoding="utf-8", errors="replace", newline="")
    with text:
        for number, row in enumerate(csv.DictReader(text), start=2):
            if any(BAD_TEXT in (value or "") for value in row.values() if isinstance(value, str)):
                yield number, ("invalid_utf8", "text is not valid UTF-8")
                continue
            yield number, row
