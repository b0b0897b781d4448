"""Helpers the corpus readers share: UTF-8 that never stops a stream, text fields of any shape."""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from functools import cache
from typing import BinaryIO

from pydantic import TypeAdapter, ValidationError

from scitune.contracts import FigureRecord, Rejection

BAD_TEXT = "\ufffd"
"""What an undecodable byte becomes; a record whose text contains it is rejected as non-UTF-8."""


class Utf8Repair:
    """A binary file whose invalid UTF-8 bytes are replaced by U+FFFD, read incrementally.

    JSON parsers stop at the first invalid byte, losing every record after it; with this, only the
    record holding the bad bytes is affected, and the caller rejects it by looking for BAD_TEXT.
    """

    def __init__(self, handle: BinaryIO, chunk: int = 1 << 20):
        self.handle = handle
        self.chunk = chunk
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.buffer = b""
        self.start = 0  # what was read of the buffer: bytes before it are dropped at the next refill
        self.suspect = False
        """True once any U+FFFD has passed through (a replaced byte, or one the file really holds):
        until then no record can hold bad text and readers skip the per-record check."""

    def read(self, size: int = -1) -> bytes:
        # The buffer is cut once per refill, not once per read: parsers read a small block at a
        # time, and copying the rest of a 1 MB buffer after each one cost more than decoding it.
        while size < 0 or len(self.buffer) - self.start < size:
            block = self.handle.read(self.chunk)
            final = not block
            text = self.decoder.decode(block, final=final)
            self.suspect = self.suspect or BAD_TEXT in text
            self.buffer = self.buffer[self.start:] + text.encode("utf-8")
            self.start = 0
            if final:
                break
        end = len(self.buffer) if size < 0 else min(self.start + size, len(self.buffer))
        out = self.buffer[self.start:end]
        self.start = end
        return out


def texts(value) -> list[str]:
    """A text field as a list of non-empty strings, whether the corpus stored a string, a list of
    strings or a list of lists."""
    if type(value) is list or isinstance(value, (list, tuple)):  # lists first: what corpora store most
        out = []
        for item in value:  # a loop, not nested generators: called several times for every record
            if type(item) is str:
                item = item.strip()
                if item:
                    out.append(item)
            else:
                out.extend(texts(item))
        return out
    if value is None:
        return []
    if isinstance(value, str):
        value = value.strip()
        return [value] if value else []
    return [str(value)]


def has_bad_text(*values) -> bool:
    return any(BAD_TEXT in text for value in values for text in texts(value))


def paper_of(file_name: str) -> str:
    """arXiv figure files are named '{paper}-Figure{n}-{k}.png' (SciCap, ArxivCap); the paper id is
    the part before the figure number."""
    stem = file_name.rsplit("/", 1)[-1]
    for marker in ("-Figure", "-Table"):
        if marker in stem:
            return stem.split(marker, 1)[0]
    return stem.rsplit(".", 1)[0]


@cache
def _records() -> TypeAdapter:
    return TypeAdapter(list[FigureRecord])


def validated(items: list[dict | Rejection]) -> Iterator[FigureRecord | Rejection]:
    """ITEMS with each dict (a FigureRecord's fields) made a FigureRecord: all in one validation call,
    which costs half as much per record as a call each. When one is invalid, they are made one at a
    time instead, so the records before it still come out and it raises the error
    `FigureRecord(**fields)` raises, naming the field."""
    fields = [item for item in items if type(item) is dict]
    try:
        records = iter(_records().validate_python(fields))
    except ValidationError:
        records = (FigureRecord(**item) for item in fields)
    for item in items:
        yield next(records) if type(item) is dict else item
