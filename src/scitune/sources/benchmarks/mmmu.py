"""MMMU (Yue et al., CVPR 2024): the Hugging Face parquet release `MMMU/MMMU` (or lmms-lab's merged copy).

Files `{Subject}/{split}-*.parquet` (one config per subject) or `data/{split}-*.parquet` (all subjects);
columns (dataset card): id ("validation_Physics_3"), question, options (a Python list written as a
string), explanation, image_1 … image_7 ({bytes, path}), img_type, answer, topic_difficulty,
question_type ("multiple-choice" / "open"), subfield. The subject is the middle of the id.

Like the official LLaVA-1.5 evaluation (MMMU `eval/`: process_single_sample), the model sees
`image_1` only; the `<image n>` tags stay in the text. Items that refer to more than one image are
counted (`images_referenced`) so a reader knows what a one-image model could not see.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Literal

from pydantic import model_validator

from scitune.sources.benchmarks.common import (BenchmarkItem, BenchmarkSet, image_bytes, parquet_files, parquet_rows,
                                               split_of)
from scitune.sources.images import store_image

# MMMU `eval/utils/data_utils.py` DOMAIN_CAT2SUB_CAT: the six disciplines and their 30 subjects.
DISCIPLINES: dict[str, tuple[str, ...]] = {
    "Art and Design": ("Art", "Art_Theory", "Design", "Music"),
    "Business": ("Accounting", "Economics", "Finance", "Manage", "Marketing"),
    "Science": ("Biology", "Chemistry", "Geography", "Math", "Physics"),
    "Health and Medicine": ("Basic_Medical_Science", "Clinical_Medicine", "Diagnostics_and_Laboratory_Medicine",
                            "Pharmacy", "Public_Health"),
    "Humanities and Social Science": ("History", "Literature", "Sociology", "Psychology"),
    "Tech and Engineering": ("Agriculture", "Architecture_and_Engineering", "Computer_Science", "Electronics",
                             "Energy_and_Power", "Materials", "Mechanical_Engineering"),
}
SUBJECTS = tuple(s for subjects in DISCIPLINES.values() for s in subjects)
SCIENCE = DISCIPLINES["Science"]
_COLUMNS = ["id", "question", "options", "image_1", "answer", "question_type", "subfield", "topic_difficulty",
            "img_type"]


def discipline_of(subject: str) -> str:
    return next(name for name, subjects in DISCIPLINES.items() if subject in subjects)


def subject_of(item_id: str) -> str:
    """`validation_Basic_Medical_Science_12` → `Basic_Medical_Science`."""
    return "_".join(item_id.split("_")[1:-1])


class MMMUItem(BenchmarkItem):
    """One MMMU question. `answer` is a letter for multiple choice; open questions may accept several."""

    question: str
    options: list[str]
    answer: str | list[str]
    question_type: Literal["multiple-choice", "open"]
    subject: str
    subfield: str | None = None
    topic_difficulty: str | None = None
    img_type: str | None = None
    images_referenced: int = 0

    @model_validator(mode="after")
    def _consistent(self) -> MMMUItem:
        if self.subject not in SUBJECTS:
            raise ValueError(f"subject {self.subject!r} is not one of MMMU's 30 subjects")
        if self.question_type == "multiple-choice":
            letters = [chr(ord("A") + i) for i in range(len(self.options))]
            if len(self.options) < 2 or self.answer not in letters:
                raise ValueError(f"multiple-choice answer {self.answer!r} is not one of {letters}")
        return self

    @property
    def discipline(self) -> str:
        return discipline_of(self.subject)


def _literal_list(text, what: str) -> list[str]:
    if isinstance(text, list):
        return [str(t) for t in text]
    try:
        value = ast.literal_eval(text)  # a Python list written as a string; never eval()
    except (ValueError, SyntaxError):
        raise ValueError(f"{what} {text!r} is not a Python list") from None
    if not isinstance(value, list):
        raise ValueError(f"{what} {text!r} is not a list")
    return [str(v) for v in value]


def _answer(value: str) -> str | list[str]:
    text = str(value).strip()
    return _literal_list(text, "answer") if text.startswith("[") else text


def read_parquet(source: Path, image_dir: Path | None, split: str = "validation",
                 subjects: tuple[str, ...] | None = SCIENCE) -> BenchmarkSet[MMMUItem]:
    """MMMU parquet files of SPLIT under SOURCE (a file or a folder), only SUBJECTS (None: all 30)."""
    unknown = set(subjects or ()) - set(SUBJECTS)
    if unknown:
        raise ValueError(f"unknown MMMU subjects: {', '.join(sorted(unknown))}")
    result: BenchmarkSet[MMMUItem] = BenchmarkSet(Path(image_dir) if image_dir else None)
    files = [f for f in parquet_files(source) if split_of(f) == split or Path(source).is_file()]
    if subjects is not None:  # per-subject folders can be skipped without opening them
        files = [f for f in files if f.parent.name not in SUBJECTS or f.parent.name in subjects]
    if not files:
        raise FileNotFoundError(f"no MMMU parquet file of split '{split}' in {source}")
    for file in files:
        for row, record in parquet_rows(file, _COLUMNS):
            item_id = str(record.get("id") or f"{file.name}:{row}")
            subject = subject_of(item_id)
            if subjects is not None and subject not in subjects:
                continue
            data = image_bytes(record.get("image_1"))
            text = f"{record.get('question')} {record.get('options')}"
            referenced = len(set(re.findall(r"<image (\d+)>", text)))
            result.add(item_id, lambda r=record, i=item_id, s=subject, d=data, n=referenced: MMMUItem(
                id=i, image=store_image(d, result.image_root) if d else None, question=r["question"],
                options=_literal_list(r["options"], "options"), answer=_answer(r["answer"]),
                question_type=r["question_type"], subject=s, subfield=r.get("subfield"),
                topic_difficulty=r.get("topic_difficulty"), img_type=r.get("img_type"), images_referenced=n))
    return result


def parse_subjects(text: str | None) -> tuple[str, ...] | None:
    """'science' (default), 'all', a discipline name, or comma-separated subjects."""
    if text is None or text.lower() == "science":
        return SCIENCE
    if text.lower() == "all":
        return None
    for name, members in DISCIPLINES.items():
        if text.lower() == name.lower():
            return members
    chosen = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in chosen if s not in SUBJECTS]
    if unknown:
        raise ValueError(f"unknown MMMU subjects {', '.join(unknown)}; use science, all, a discipline "
                         f"({', '.join(DISCIPLINES)}) or subjects such as {', '.join(SCIENCE)}")
    return chosen
