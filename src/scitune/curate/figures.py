"""Figure instructions in the SciTune CTOM form, built only from human-written fields.

The target text of a figure is its type (T), caption (C), the text inside it (O, OCR) and the
sentences that mention it (M), in that order; "Fig. 3" / "Figure 3" become the figure type, as the
paper does, so the model learns what the figure *is* rather than its number in some paper.
"""

from __future__ import annotations

import itertools
import re
import zlib
from collections.abc import Iterable, Iterator
from functools import lru_cache

from scitune.contracts import IMAGE_PLACEHOLDER, FigureRecord, Instruction

TYPE_PROMPTS: tuple[str, ...] = (
    "Which type of figure is this?",
    "What kind of scientific figure is shown?",
    "Classify the type of this figure.",
)
"""Prompts of the classification instruction; its answer is exactly the type label."""

DESCRIBE_PROMPTS: tuple[str, ...] = (
    "Describe this scientific figure.",
    "Explain what this figure shows.",
    "Write a caption for this figure and say what it contains.",
)
"""Prompts of the CTOM instruction."""

CAPTION_PROMPTS: tuple[str, ...] = (
    "Write the caption of this figure.",
    "What would be a good caption for this figure?",
    "Caption this scientific figure.",
)
"""Prompts of the caption-only instruction; its answer is the author's caption."""

READ_TEXT_PROMPTS: tuple[str, ...] = (
    "Read the text in this figure.",
    "Which words and numbers appear in this figure?",
    "Transcribe the text shown in the figure.",
)
"""Prompts of the text-reading instruction; its answer is the figure's OCR text."""

TASKS = ("describe", "figure_type", "caption", "read_text")

_ORDERS = list(itertools.permutations(TYPE_PROMPTS))
"""Every order of the classification prompts; a record takes the first k of one of them."""

OCR_MARKER = "Text in the figure:"
MENTIONS_MARKER = "The paper says:"
_TYPE_SENTENCE = re.compile(r"This figure is an? (?P<type>[^.]+)\.")

_FIGURE_REF = re.compile(r"\b(?:(?P<article>[Tt]he)\s+)?(?:Figures?|Figs?\.)\s*~?\d+[a-z]?(?:\s*\([a-z]\))?")


def replace_figure_refs(text: str, figure_type: str) -> str:
    """'As Fig. 3 shows' → 'As the bar chart shows'; 'Figure 2: Mean…' → 'Bar chart: Mean…'."""

    def substitute(match: re.Match) -> str:
        start = match.start()
        at_sentence_start = start == 0 or text[:start].rstrip().endswith((".", ":", "!", "?"))
        if text.startswith(":", match.end()):
            phrase = figure_type
        else:
            phrase = f"the {figure_type}"
        return phrase[0].upper() + phrase[1:] if at_sentence_start or match["article"] == "The" else phrase

    return _FIGURE_REF.sub(substitute, text) if "Fig" in text else text


def ctom_target(record: FigureRecord, components: str) -> tuple[str, list[str]]:
    """The target text for `components` (e.g. 'CTOM') and the record fields it was built from.

    The figure-type component (T) is left out when the type is unknown: it is never guessed.
    """
    figure_type = record.figure_type
    parts, fields = [], []
    # Always in the order T, C, O, M, whatever the order of the letters in COMPONENTS.
    if "T" in components and figure_type:
        parts.append(f"This figure is a {figure_type}.")  # read back by _TYPE_SENTENCE
        fields.append("figure_type")
    if "C" in components:
        caption = record.caption.strip()
        if caption:
            parts.append(replace_figure_refs(caption, figure_type) if figure_type else caption)
            fields.append("caption")
    if "O" in components and record.ocr:
        parts.append(f"{OCR_MARKER} {', '.join(record.ocr)}.")
        fields.append("ocr")
    if "M" in components and (record.mentions or record.paragraphs):
        # The citing sentences themselves when known; whole paragraphs only as a fallback.
        mentions = record.mentions or record.paragraphs
        text = " ".join([m.strip() for m in mentions])
        parts.append(f"{MENTIONS_MARKER} {replace_figure_refs(text, figure_type) if figure_type else text}")
        fields.append("mentions" if record.mentions else "paragraphs")
    return " ".join(parts), fields


def split_ctom(text: str) -> dict[str, str]:
    """The parts of a CTOM text (a target or a model's output): {'type', 'caption', 'ocr', 'mentions'}.

    The inverse of `ctom_target`: the type sentence opens the text, the caption follows, and the OCR
    and mention parts start at their markers. Caption metrics are computed on the 'caption' part, so
    a model is not rewarded for copying the figure's text or the paper's sentences.
    """
    text = text.strip()
    parts = {"type": "", "caption": "", "ocr": "", "mentions": ""}
    match = _TYPE_SENTENCE.match(text)
    if match:
        parts["type"] = match["type"]
        text = text[match.end():].lstrip()
    cuts = sorted((text.find(marker), key) for key, marker in (("ocr", OCR_MARKER), ("mentions", MENTIONS_MARKER))
                  if marker in text)
    parts["caption"] = text[: cuts[0][0]].strip() if cuts else text
    for number, (start, key) in enumerate(cuts):
        end = cuts[number + 1][0] if number + 1 < len(cuts) else len(text)
        marker = OCR_MARKER if key == "ocr" else MENTIONS_MARKER
        parts[key] = text[start + len(marker): end].strip()
    return parts


@lru_cache(maxsize=256)
def _type_prompt(prompt: str, figure_types: tuple[str, ...]) -> str:
    return f"{prompt} Answer with one of: {', '.join(figure_types)}."


@lru_cache(maxsize=256)
def _human(prompt: str) -> str:
    return f"{IMAGE_PLACEHOLDER}\n{prompt}"


def type_prompt(prompt: str, figure_types: Iterable[str]) -> str:
    """Classification prompt listing the allowed labels, so the answer is one of them verbatim."""
    return _type_prompt(prompt, tuple(figure_types))


def _row(record: FigureRecord, suffix: str, prompt: str, answer: str, source: dict) -> dict:
    return {"id": f"{record.id}-{suffix}", "image": record.image,
            "conversations": [{"from": "human", "value": _human(prompt)}, {"from": "gpt", "value": answer}],
            "source": source}


def instruction_rows(
    record: FigureRecord, components: str, figure_types: tuple[str, ...], seed: int, type_prompts: int,
    tasks: frozenset[str],
) -> list[dict]:
    """One record's instructions as plain dicts in `Instruction`'s JSON form ("from" for the speaker).

    Curation writes these without building an `Instruction` each: the human turn is the placeholder
    and a fixed template, the answer comes from a record that was validated where it was read, so
    the contract holds by construction and validating every instruction again bought nothing but time
    (`figure_instructions` validates them, for every other caller).
    """
    draw = zlib.crc32(f"{seed}:{record.id}".encode())
    source = record.source
    provenance = {"dataset": source.dataset, "paper_id": source.paper_id, "figure_id": source.figure_id,
                  "record": record.id}
    figure_type = record.figure_type
    rows = []
    if "describe" in tasks:
        target, fields = ctom_target(record, components)
        if target:
            rows.append(_row(record, "describe", DESCRIBE_PROMPTS[draw % len(DESCRIBE_PROMPTS)], target,
                             {**provenance, "task": "describe", "components": components, "fields": fields}))
    if "figure_type" in tasks and figure_type:
        prompts = _ORDERS[(draw // 3) % len(_ORDERS)][: min(type_prompts, len(TYPE_PROMPTS))]
        for number, prompt in enumerate(prompts):
            rows.append(_row(record, "type" + (f"-{number}" if number else ""), _type_prompt(prompt, figure_types),
                             figure_type, {**provenance, "task": "figure_type", "fields": ["figure_type"]}))
    if "caption" in tasks and record.caption.strip():
        caption = record.caption.strip()
        caption = replace_figure_refs(caption, figure_type) if figure_type else caption
        rows.append(_row(record, "caption", CAPTION_PROMPTS[(draw // 18) % len(CAPTION_PROMPTS)], caption,
                         {**provenance, "task": "caption", "fields": ["caption"]}))
    if "read_text" in tasks and record.ocr:
        rows.append(_row(record, "read-text", READ_TEXT_PROMPTS[(draw // 54) % len(READ_TEXT_PROMPTS)],
                         "\n".join(record.ocr), {**provenance, "task": "read_text", "fields": ["ocr"]}))
    return rows


def figure_instructions(
    records: Iterable[FigureRecord], components: str, figure_types: list[str], seed: int, type_prompts: int = 1,
    tasks: Iterable[str] = ("describe", "figure_type"),
) -> Iterator[Instruction]:
    """Per record and task: the CTOM description, `type_prompts` classifications (each with another
    template; only when the type is known), the caption alone, and the text inside the figure.

    Prompts are drawn from the template lists by a hash of (seed, record id): a record's
    instructions do not depend on which other records share the file or in which order (and no
    RNG is seeded per record, which cost more than building the instructions).
    """
    figure_types, tasks = tuple(figure_types), frozenset(tasks)
    for record in records:
        for row in instruction_rows(record, components, figure_types, seed, type_prompts, tasks):
            yield Instruction.model_validate(row)
