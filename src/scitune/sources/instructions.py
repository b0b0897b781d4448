"""Instruction files as the ecosystem writes them: our JSONL, and LLaVA's own conversation files.

LLaVA's files are JSON arrays (`llava_test_CQM-A.json`, `llava_v1_5_mix665k.json`) or JSONL, whose
text-only items have no "image" key and whose items carry no provenance. Both are read the same
way wherever instructions are read (predict, evaluation, training); a missing provenance is
recorded as unknown, never invented.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from scitune.contracts import Instruction

UNKNOWN_PROVENANCE = {"provenance": "unknown"}
"""The `source` of an item read from a file that did not say where its text came from."""


def _instruction(item: object, where: str) -> Instruction:
    if not isinstance(item, dict):
        raise ValueError(f"{where}: not a JSON object")
    known = {"id", "image", "conversations", "source"}
    source = item.get("source") or dict(UNKNOWN_PROVENANCE)
    extra = {key: value for key, value in item.items() if key not in known}
    if extra:  # e.g. LLaVA's "model" field: kept with the provenance, not dropped
        source = {**source, "extra": extra}
    try:
        return Instruction(id=str(item.get("id", "")), image=item.get("image") or None,
                           conversations=item.get("conversations"), source=source)
    except (ValidationError, ValueError) as error:
        raise ValueError(f"{where}: not a valid instruction: {error}") from None


def read_instructions(path: Path) -> Iterator[Instruction]:
    """Instructions from a JSONL file or a JSON array file (LLaVA's), told apart by the first byte.
    A malformed item raises naming the file and the line (JSONL) or the position (array)."""
    path = Path(path)
    with path.open(encoding="utf-8") as handle:
        head = handle.read(1 << 12).lstrip()
    if head.startswith("["):
        try:
            items = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON: {error}") from None
        for number, item in enumerate(items):
            yield _instruction(item, f"{path}[{number}]")
        return
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not valid JSON: {error}") from None
            yield _instruction(item, f"{path}:{number}")
