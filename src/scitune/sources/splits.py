"""Which split a record belongs to: decided by a hash of its paper id, so all figures of a paper
(and the questions about them) land on one side, the same on every run, machine and corpus order."""

from __future__ import annotations

import hashlib

SPLITS = ("train", "val", "test")


def split_of(paper_id: str, test_fraction: float, val_fraction: float) -> str:
    """The split of a paper, from a hash of its id: the same on every run, machine and corpus order."""
    position = int.from_bytes(hashlib.sha1(paper_id.encode("utf-8")).digest()[:8], "big") / 2**64
    if position < test_fraction:
        return "test"
    if position < test_fraction + val_fraction:
        return "val"
    return "train"
