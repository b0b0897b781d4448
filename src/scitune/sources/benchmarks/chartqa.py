"""ChartQA (Masry et al., Findings of ACL 2022): the official JSON release or a Hugging Face parquet.

Official (github.com/vis-nlp/ChartQA, `ChartQA Dataset/{split}/`): `{split}_human.json` and
`{split}_augmented.json`, each a list of {imgname, query, label}, charts in `png/` beside them, read
in place. Ids are `{human|augmented}-{n}` (n: position in that file).

Hugging Face parquet (schemas from the dataset cards; told apart by their columns):
- `HuggingFaceM4/ChartQA`: image ({bytes, path}), query, label (list of string), human_or_machine
  (class label 0 = human, 1 = machine/augmented); files `data/{split}-*.parquet`;
- `lmms-lab/ChartQA`: type ("human_test" / "augmented_test"), question, answer, image; `data/test-*`.
Ids are `{split}-{n}` (n: row over the split's files in name order). Image bytes are written once
under their SHA-1 into IMAGE_DIR.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import field_validator

from scitune.sources.benchmarks.common import (BenchmarkItem, BenchmarkSet, image_bytes, parquet_columns,
                                               parquet_files, parquet_rows, split_of)
from scitune.sources.images import store_image

SPLITS = ("human", "augmented")


class ChartQAItem(BenchmarkItem):
    """One ChartQA question; `labels` are the accepted answers (the official data has one)."""

    question: str
    labels: list[str]
    split: Literal["human", "augmented"]

    @field_validator("labels")
    @classmethod
    def _some_label(cls, labels: list[str]) -> list[str]:
        if not labels or not all(isinstance(label, str) for label in labels):
            raise ValueError("needs at least one answer label (a string)")
        return labels


def read_json(source: Path, split: str = "test", image_root: Path | None = None) -> BenchmarkSet[ChartQAItem]:
    """A folder holding `{split}_human.json` and `{split}_augmented.json` (and `png/`), or one of the files."""
    source = Path(source)
    files = [source] if source.is_file() else [source / f"{split}_{kind}.json" for kind in SPLITS]
    files = [f for f in files if f.is_file()]
    if not files:
        raise FileNotFoundError(f"no {split}_human.json or {split}_augmented.json in {source}")
    result: BenchmarkSet[ChartQAItem] = BenchmarkSet(Path(image_root) if image_root else files[0].parent / "png")
    for file in files:
        kind = "augmented" if "augmented" in file.stem else "human"
        rows = json.loads(file.read_text(encoding="utf-8"))
        if not isinstance(rows, list):
            raise ValueError(f"{file}: expected a list of {{imgname, query, label}}, got a {type(rows).__name__}")
        for n, row in enumerate(rows):
            item_id = f"{kind}-{n}"
            if not isinstance(row, dict) or not row.get("imgname"):
                result.reject(item_id, f"{file.name} entry {n}: no imgname")
                continue
            label = row.get("label")
            result.add(item_id, lambda r=row, i=item_id, k=kind, lab=label: ChartQAItem(
                id=i, image=str(r["imgname"]), question=r.get("query"),
                labels=lab if isinstance(lab, list) else [lab], split=k))
    return result


def read_parquet(source: Path, image_dir: Path | None, split: str = "test") -> BenchmarkSet[ChartQAItem]:
    """HuggingFaceM4/ChartQA or lmms-lab/ChartQA parquet files of SPLIT (a file or a folder)."""
    result: BenchmarkSet[ChartQAItem] = BenchmarkSet(Path(image_dir) if image_dir else None)
    files = [f for f in parquet_files(source) if split_of(f) == split or Path(source).is_file()]
    if not files:
        raise FileNotFoundError(f"no ChartQA parquet file of split '{split}' in {source}")
    n = 0
    for file in files:
        columns = parquet_columns(file)
        if {"query", "label", "human_or_machine", "image"} <= columns:
            convert = _m4_row
        elif {"type", "question", "answer", "image"} <= columns:
            convert = _lmms_row
        else:
            raise ValueError(f"{file}: not a known ChartQA parquet layout (columns: {', '.join(sorted(columns))})")
        for row, record in parquet_rows(file):
            item_id = f"{split}-{n}"
            n += 1
            data = image_bytes(record.get("image"))
            if data is None:
                result.reject(item_id, f"{file.name} row {row}: the image has no bytes")
                continue
            result.add(item_id, lambda r=record, i=item_id, d=data, fields=convert: ChartQAItem(
                id=i, image=store_image(d, result.image_root), **fields(r)))
    return result


def _m4_row(record: dict) -> dict:
    kind = record["human_or_machine"]
    if kind not in (0, 1):
        raise ValueError(f"human_or_machine is {kind!r}, not 0 (human) or 1 (machine)")
    label = record["label"]
    return {"question": record["query"], "labels": list(label) if isinstance(label, list) else [label],
            "split": SPLITS[kind]}


def _lmms_row(record: dict) -> dict:
    kind = str(record["type"])
    if kind.split("_")[0] not in SPLITS:
        raise ValueError(f"type is {kind!r}, not human_test or augmented_test")
    return {"question": record["question"], "labels": [record["answer"]], "split": kind.split("_")[0]}


def load(path: Path, image_root: Path | None = None, image_dir: Path | None = None,
         split: str = "test") -> BenchmarkSet[ChartQAItem]:
    path = Path(path)
    if path.suffix == ".parquet" or (path.is_dir() and any(path.rglob("*.parquet"))):
        return read_parquet(path, image_dir, split)
    return read_json(path, split, image_root)
