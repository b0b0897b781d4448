"""The data contracts of DESIGN.md as code: every arrow of the data flow is a JSONL file of these.

Each model validates on construction, so a malformed record fails where it is read, naming the
file, the line and the field, instead of deep inside training.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

IMAGE_PLACEHOLDER = "<image>"
"""The placeholder a human turn carries where the image goes; the processor expands it."""


LETTERS = "ABCDE"
"""Option letters of a multiple-choice question, in order."""

# ScienceQA prompt formats (the ScienceQA paper's INPUT-OUTPUT names): part of the instruction
# contract, since a checkpoint answers in the format it was trained on.
INPUT_LETTERS = "QCMLE"
OUTPUT_LETTERS = "ALE"
INPUT_FORMATS = ("CQM", "QCM", "QCML", "QCME", "QCMLE", "QCLM", "QCEM", "QCLEM")
OUTPUT_FORMATS = ("A", "AL", "AE", "ALE", "AEL", "LA", "EA", "LEA", "ELA", "LEPA")


def parse_format(prompt_format: str) -> tuple[str, str]:
    """'QCM-LEPA' → ('QCM', 'LEPA'), validated: letters known, none repeated, Q and M and A present."""
    inputs, sep, outputs = prompt_format.partition("-")
    valid_inputs = bool(inputs) and not set(inputs) - set(INPUT_LETTERS) and len(set(inputs)) == len(inputs)
    valid_outputs = outputs == "LEPA" or (
        bool(outputs) and not set(outputs) - set(OUTPUT_LETTERS) and len(set(outputs)) == len(outputs)
    )
    if not (sep and valid_inputs and valid_outputs and {"Q", "M"} <= set(inputs) and "A" in outputs):
        raise ValueError(
            f"unknown prompt format '{prompt_format}': expected INPUT-OUTPUT such as QCM-LEPA, with input letters "
            f"from {INPUT_LETTERS} (Q and M required) and output letters from {OUTPUT_LETTERS} (A required) or LEPA"
        )
    return inputs, outputs


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Contract):
    """Where a figure came from."""

    dataset: str
    paper_id: str
    figure_id: str
    license: str


class FigureRecord(_Contract):
    """One scientific figure and what humans wrote about it."""

    id: str
    image: str = Field(description="path relative to the image root")
    figure_type: str | None = Field(description="e.g. 'bar chart'; None when unknown")
    caption: str
    ocr: list[str] = Field(default_factory=list, description="text inside the figure")
    ocr_from: str | None = Field(default=None, description="where `ocr` came from: 'text_layer' (a PDF's own "
                                 "text), 'engine:NAME' (read by an OCR engine); None: the corpus itself")
    mentions: list[str] = Field(default_factory=list, description="sentences that cite the figure")
    paragraphs: list[str] = Field(default_factory=list, description="paragraphs that cite it")
    source: Source


class Rejection(_Contract):
    """A record that did not become an instruction, and why (one line of rejected.jsonl)."""

    id: str
    dataset: str
    kind: str = Field(description="stable snake_case category that reports count by, e.g. 'missing_image'")
    reason: str = Field(description="what was wrong with this record, for a person")
    where: str = Field("", description="file and position of the record in its source")


class Problem(_Contract):
    """A ScienceQA problem with its official fields; `pid` is the key it is stored under."""

    pid: str
    question: str
    choices: list[str]
    answer: int = Field(description="index into choices")
    hint: str = ""
    image: str | None = Field(default=None, description="image path relative to the image root")
    task: str | None = None
    grade: str | None = Field(default=None, description="'grade1' … 'grade12'")
    subject: str | None = None
    topic: str | None = None
    category: str | None = None
    skill: str | None = None
    lecture: str = ""
    solution: str = ""
    split: str

    @field_validator("choices")
    @classmethod
    def _has_choices(cls, choices: list[str]) -> list[str]:
        if len(choices) < 2:
            raise ValueError(f"needs at least 2 choices, got {len(choices)}")
        return choices

    def model_post_init(self, _context: object) -> None:
        if not 0 <= self.answer < len(self.choices):
            raise ValueError(
                f"problem {self.pid}: answer index {self.answer} is out of range for "
                f"{len(self.choices)} choices"
            )


class Turn(_Contract):
    """One message of a LLaVA conversation."""

    from_: Literal["human", "gpt", "system"] = Field(alias="from")
    value: str

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Instruction(_Contract):
    """One training or evaluation sample in LLaVA's conversation format, plus provenance."""

    id: str
    image: str | None
    conversations: list[Turn]
    source: dict = Field(description="dataset, record id and the human-written fields used")

    def model_post_init(self, _context: object) -> None:
        placeholders = sum(t.value.count(IMAGE_PLACEHOLDER) for t in self.conversations)
        if placeholders != (1 if self.image else 0):
            raise ValueError(
                f"instruction {self.id}: {placeholders} '{IMAGE_PLACEHOLDER}' placeholders "
                f"but image={self.image!r} (an image needs exactly one, no image needs none)"
            )
        if not any(t.from_ == "gpt" for t in self.conversations):
            raise ValueError(f"instruction {self.id}: no 'gpt' turn, nothing to learn or score")

    def to_json(self) -> dict:
        return self.model_dump(by_alias=True)


class Prediction(_Contract):
    """One generated answer; `error` is set (and `text` empty) when the item failed."""

    id: str
    prompt: str
    text: str
    model: str
    error: str | None = None
    decoding: dict | None = Field(default=None, description="generation settings that produced `text`")


Record = TypeVar("Record", bound=BaseModel)


def read_jsonl(path: Path, model: type[Record]) -> Iterator[Record]:
    """Stream `model` objects from a JSONL file; a bad line raises naming the file and line."""
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield model.model_validate(json.loads(line))
            except (json.JSONDecodeError, ValidationError, ValueError) as error:
                raise ValueError(f"{path}:{number}: not a valid {model.__name__}: {error}") from None


def write_jsonl(path: Path, items: Iterable[BaseModel]) -> int:
    """Write items as JSONL atomically (temp file + rename); returns how many were written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    count = 0
    with tmp.open("w", encoding="utf-8") as handle:
        for item in items:
            handle.write(json.dumps(item.model_dump(by_alias=True), ensure_ascii=False) + "\n")
            count += 1
    tmp.replace(path)
    return count
