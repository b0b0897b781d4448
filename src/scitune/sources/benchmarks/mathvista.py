"""MathVista (Lu et al., ICLR 2024): the official `testmini.json` / `test.json` or the Hugging Face parquet.

Official JSON (github.com/lupantech/MathVista `data/testmini.json`): {pid: {question, image, choices,
unit, precision, answer, question_type, answer_type, pid, metadata}}; `image` ("images/1.jpg") is
relative to the folder of the JSON unless an image root is given, and is read in place.

Hugging Face `AI4Math/MathVista` (dataset card features): pid, question, image (the same relative
path), decoded_image ({bytes, path}), choices (list of string), unit, precision (float64), answer,
question_type, answer_type, metadata (struct), query; files `data/{split}-*.parquet`. Image bytes are
written once under their SHA-1 into IMAGE_DIR.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import field_validator, model_validator

from scitune.sources.benchmarks.common import (BenchmarkItem, BenchmarkSet, image_bytes, parquet_files, parquet_rows,
                                               split_of)
from scitune.sources.images import store_image

CATEGORY_KEYS = ("question_type", "answer_type", "language", "source", "category", "task", "context", "grade",
                 "skills")
"""The breakdowns the official calculate_score.py reports, in its order."""


class MathVistaProblem(BenchmarkItem):
    """One MathVista problem with its official fields (`id` is the pid)."""

    question: str
    choices: list[str] | None = None
    unit: str | None = None
    precision: int | None = None
    answer: str | None = None
    """None on the test split, whose answers are not public."""
    question_type: Literal["multi_choice", "free_form"]
    answer_type: Literal["text", "integer", "float", "list"]
    metadata: dict
    query: str | None = None
    """The published prompt (the parquet's `query` column; absent from testmini.json). Kept for
    provenance only: `prompt` rebuilds it from the fields, because for 10 testmini problems the
    published query lists the choices in another order than `choices`, which the scorer maps letters to."""

    @field_validator("precision", mode="before")
    @classmethod
    def _whole_precision(cls, value):
        # The parquet stores precision as float64 (1.0); the scorer rounds to int(precision) places.
        if value is None:
            return None
        if float(value) != int(float(value)):
            raise ValueError(f"precision {value} is not a whole number of decimal places")
        return int(float(value))

    @model_validator(mode="after")
    def _consistent(self) -> MathVistaProblem:
        if self.question_type == "multi_choice" and (not self.choices or len(self.choices) < 2):
            raise ValueError("a multi_choice problem needs at least 2 choices")
        if self.answer_type == "float" and self.precision is None:
            raise ValueError("a float answer needs a precision")
        missing = [k for k in CATEGORY_KEYS[2:] if k not in self.metadata]
        if missing:
            raise ValueError(f"metadata lacks {', '.join(missing)}")
        return self

    @property
    def prompt(self) -> str:
        """The official zero-shot query (hint, question with its unit, lettered choices), built from
        the fields as the published `query` was: identical for 990 of the 1,000 testmini problems; for
        the other 10 the published query lists the choices in another order (once with two other
        values) than `choices`, the order answers are scored in."""
        if self.question_type == "multi_choice":
            hint = "Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end."
        elif self.answer_type == "integer":
            hint = ("Please answer the question requiring an integer answer and provide the final value, "
                    "e.g., 1, 2, 3, at the end.")
        elif self.answer_type == "float" and self.precision == 1:
            hint = ("Please answer the question requiring a floating-point number with one decimal place and "
                    "provide the final value, e.g., 1.2, 1.3, 1.4, at the end.")
        elif self.answer_type == "float" and self.precision == 2:
            hint = ("Please answer the question requiring a floating-point number with two decimal places and "
                    "provide the final value, e.g., 1.23, 1.34, 1.45, at the end.")
        elif self.answer_type == "list":
            hint = ("Please answer the question requiring a Python list as an answer and provide the final list, "
                    "e.g., [1, 2, 3], [1.2, 1.3, 1.4], at the end.")
        else:
            hint = "Please answer the question and provide the final answer at the end."
        lines = [f"Hint: {hint}", f"Question: {self.question}" + (f" (Unit: {self.unit})" if self.unit else "")]
        if self.choices:
            lines += ["Choices:"] + [f"({chr(ord('A') + i)}) {choice}" for i, choice in enumerate(self.choices)]
        return "\n".join(lines).strip()  # as the official query builder strips its result

    def category(self, key: str) -> list[str]:
        """The values this problem counts under for one breakdown (skills is a list)."""
        value = getattr(self, key) if key in ("question_type", "answer_type") else self.metadata[key]
        return list(value) if isinstance(value, list) else [str(value)]


def read_json(path: Path, image_root: Path | None = None) -> BenchmarkSet[MathVistaProblem]:
    """The official {pid: problem} JSON; images stay where they are (relative to IMAGE_ROOT, by
    default the JSON's folder)."""
    path = Path(path)
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected MathVista's {{pid: problem}} object, got a {type(raw).__name__}")
    result: BenchmarkSet[MathVistaProblem] = BenchmarkSet(Path(image_root) if image_root else path.parent)
    for pid, fields in raw.items():
        pid = str(pid)
        if not isinstance(fields, dict):
            result.reject(pid, "not a JSON object")
            continue
        known = {k: v for k, v in fields.items() if k in MathVistaProblem.model_fields and k != "pid"}
        if str(fields.get("pid", pid)) != pid:
            result.reject(pid, f"its pid field says {fields.get('pid')!r}")
            continue
        result.add(pid, lambda f=known, p=pid: MathVistaProblem(id=p, **f))
    return result


def read_parquet(source: Path, image_dir: Path | None, split: str | None = "testmini"
                 ) -> BenchmarkSet[MathVistaProblem]:
    """`AI4Math/MathVista` parquet files (a file or a folder); only SPLIT's files unless split is None."""
    result: BenchmarkSet[MathVistaProblem] = BenchmarkSet(Path(image_dir) if image_dir else None)
    files = [f for f in parquet_files(source) if split is None or split_of(f) == split]
    if not files:
        raise FileNotFoundError(f"no MathVista parquet file of split '{split}' in {source}")
    for file in files:
        for row, record in parquet_rows(file):
            pid = str(record.get("pid") or f"{file.name}:{row}")
            data = image_bytes(record.get("decoded_image"))
            if data is None:
                result.reject(pid, f"{file.name} row {row}: decoded_image has no bytes")
                continue
            fields = {k: v for k, v in record.items()
                      if k in MathVistaProblem.model_fields and k not in ("pid", "image")}
            result.add(pid, lambda f=fields, p=pid, d=data: MathVistaProblem(
                id=p, image=store_image(d, result.image_root), **f))
    return result


def load(path: Path, image_root: Path | None = None, image_dir: Path | None = None,
         split: str | None = "testmini") -> BenchmarkSet[MathVistaProblem]:
    """Either release, told apart by its shape (parquet file or folder → parquet, else JSON)."""
    path = Path(path)
    if path.is_dir() or path.suffix == ".parquet":
        return read_parquet(path, image_dir, split)
    return read_json(path, image_root)
