"""AI2D (Kembhavi et al., ECCV 2016): the official release or the `lmms-lab/ai2d` parquet.

Official (allenai.org/data/diagrams, `ai2d/`): `questions/{image}.json` = {imageName, questions:
{question text: {abcLabel, answerTexts, correctAnswer, questionId}}}, diagrams in `images/`, read in
place, and `categories.json` ({imageName: category}) when present. The test split VLM papers report
(3,088 questions) is a list of question ids: pass it as IDS (a JSONL with `question_id`, as the
Qwen-VL/lmms-eval test file, or one id per line).

`lmms-lab/ai2d` (dataset card): question, options (list of string), answer (the index as a string),
image; `data/test-*.parquet`, 3,088 rows, ids `test-{row}`. Image bytes are written once under
their SHA-1 into IMAGE_DIR.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import model_validator

from scitune.sources.benchmarks.common import BenchmarkItem, BenchmarkSet, image_bytes, parquet_files, parquet_rows
from scitune.sources.images import store_image


class AI2DItem(BenchmarkItem):
    """One AI2D question with lettered options; `answer` is the index of the right option."""

    question: str
    options: list[str]
    answer: int
    category: str | None = None
    abc_label: bool | None = None
    """True when the question refers to letters drawn on the diagram (official data only)."""

    @model_validator(mode="after")
    def _answer_in_range(self) -> AI2DItem:
        if len(self.options) < 2:
            raise ValueError(f"needs at least 2 options, got {len(self.options)}")
        if not 0 <= self.answer < len(self.options):
            raise ValueError(f"answer index {self.answer} is out of range for {len(self.options)} options")
        return self


def read_official(root: Path, ids: Path | None = None) -> BenchmarkSet[AI2DItem]:
    """ROOT holds `questions/`, `images/` and optionally `categories.json`; IDS restricts to a split."""
    root = Path(root)
    if not (root / "questions").is_dir():
        raise FileNotFoundError(f"{root} has no questions/ folder (the official AI2D layout)")
    categories = {}
    if (root / "categories.json").is_file():
        categories = json.loads((root / "categories.json").read_text(encoding="utf-8"))
    result: BenchmarkSet[AI2DItem] = BenchmarkSet(root / "images")
    for file in sorted((root / "questions").glob("*.json"), key=lambda f: _natural(f.name)):
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
            image, questions = data["imageName"], data["questions"]
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            result.reject(file.name, f"cannot read the question file: {error}")
            continue
        for text, fields in questions.items():
            qid = str(fields.get("questionId") or f"{image}-{text}")
            result.add(qid, lambda t=text, f=fields, i=image, q=qid: AI2DItem(
                id=q, image=i, question=t, options=f["answerTexts"], answer=f["correctAnswer"],
                category=categories.get(i), abc_label=f.get("abcLabel")))
    if ids is not None:
        result = result.select(read_ids(ids))
    return result


def read_ids(path: Path) -> list[str]:
    """Question ids, one per line, or JSONL objects with `question_id`."""
    ids = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        ids.append(str(json.loads(line)["question_id"]) if line.startswith("{") else line)
    return ids


def read_parquet(source: Path, image_dir: Path | None) -> BenchmarkSet[AI2DItem]:
    """`lmms-lab/ai2d` parquet (a file or a folder)."""
    result: BenchmarkSet[AI2DItem] = BenchmarkSet(Path(image_dir) if image_dir else None)
    n = 0
    for file in parquet_files(source):
        for row, record in parquet_rows(file, ["question", "options", "answer", "image"]):
            item_id = f"test-{n}"
            n += 1
            data = image_bytes(record["image"])
            if data is None:
                result.reject(item_id, f"{file.name} row {row}: the image has no bytes")
                continue
            result.add(item_id, lambda r=record, i=item_id, d=data: AI2DItem(
                id=i, image=store_image(d, result.image_root), question=r["question"], options=list(r["options"]),
                answer=_index(r["answer"])))
    return result


def _index(value) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError(f"answer {value!r} is not an option index") from None


def _natural(name: str) -> tuple:
    stem = name.split(".")[0]
    return (0, int(stem), name) if stem.isdigit() else (1, 0, name)


def load(path: Path, image_dir: Path | None = None, ids: Path | None = None) -> BenchmarkSet[AI2DItem]:
    path = Path(path)
    if path.suffix == ".parquet" or (path.is_dir() and not (path / "questions").is_dir()):
        return read_parquet(path, image_dir)
    return read_official(path, ids)
