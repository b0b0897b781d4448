"""Dedupe state: the first owner of each key (an id, an image, a caption on a paper), in memory up
to a bound and on disk past it, so that memory stays flat however large the corpus."""

from __future__ import annotations

import sqlite3
from itertools import chain
from pathlib import Path

import numpy as np

from scitune.sources.sqlite_rows import PARAMETERS, insert_rows, placeholders


class SeenIndex:
    """First owner of each key, claimed in corpus order a batch at a time. A record owns its keys
    only if none was taken, so a rejected record never owns a key.

    The keys live in a dict until it holds MEMORY_KEYS of them (about 35 MB); then they move to an
    SQLite table in one sorted statement, and a fixed bitmap of their hashes remembers which keys
    may be on disk, so that only those few are looked up there. A SELECT and an INSERT for every
    batch had cost more than everything else dedupe does, whatever the corpus size.
    """

    MEMORY_KEYS = 1 << 18
    FILTER_BITS = 1 << 26  # 8 MiB; one bit per key: ~4% of new keys looked up in vain at 3M spilled keys
    LOOKUP = PARAMETERS  # keys per SELECT
    SPILL_ROWS = 1 << 14  # keys per call of insert_rows when spilling: a bounded list of their rows

    def __init__(self, path: Path):
        path.unlink(missing_ok=True)
        self.path = path
        self.owners: dict[str, str] = {}
        self.db: sqlite3.Connection | None = None  # opened by the first spill
        self.on_disk = bytearray()  # the bitmap, allocated by the first spill

    def claim_many(self, claims: list[tuple[list[str], str]]) -> list[tuple[str, str] | None]:
        """For each (keys, owner) in order: None when every key is new (now owned by OWNER), else
        (the first taken key, its owner)."""
        owners = self.owners
        spilled = self._spilled_owners(claims) if self.db is not None else {}
        verdicts: list[tuple[str, str] | None] = []
        for keys, owner in claims:
            for key in keys:  # loops, not generators: this runs for every record
                if key in owners or key in spilled:
                    verdicts.append((key, owners[key] if key in owners else spilled[key]))
                    break
            else:
                for key in keys:
                    owners[key] = owner
                verdicts.append(None)
        if len(owners) > self.MEMORY_KEYS:
            self._spill()
        return verdicts

    def claim(self, keys: list[str], owner: str) -> tuple[str, str] | None:
        return self.claim_many([(keys, owner)])[0]

    def _spilled_owners(self, claims: list[tuple[list[str], str]]) -> dict[str, str]:
        """The owners on disk of CLAIMS' keys that the bitmap says may be there."""
        owners, bits, size = self.owners, self.on_disk, self.FILTER_BITS
        maybe = set()
        for keys, _ in claims:  # loops, not a call per key: once keys are on disk, this runs for every key
            for key in keys:
                if key not in owners:
                    bit = hash(key) % size
                    if bits[bit >> 3] >> (bit & 7) & 1:
                        maybe.add(key)
        wanted = list(maybe)
        found: dict[str, str] = {}
        for start in range(0, len(wanted), self.LOOKUP):
            part = wanted[start:start + self.LOOKUP]
            found.update(self.db.execute(f"SELECT key, owner FROM seen WHERE key IN ({placeholders(len(part))})",
                                         part).fetchall())
        return found

    def _spill(self) -> None:
        if self.db is None:
            # One caller at a time, but not always from the thread that opened it (Ray runs an
            # actor's batches on a worker thread).
            self.db = sqlite3.connect(self.path, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=OFF")
            self.db.execute("PRAGMA synchronous=OFF")
            self.db.execute("CREATE TABLE seen (key TEXT PRIMARY KEY, owner TEXT) WITHOUT ROWID")
            self.on_disk = bytearray(self.FILTER_BITS >> 3)
        # A key's bit: its str hash (fixed within this process, all the bitmap needs) modulo the
        # size, set for all keys at once (a Python step per key cost as much as the INSERTs).
        owners = self.owners
        bit = np.fromiter(map(hash, owners), dtype=np.int64, count=len(owners)) % self.FILTER_BITS
        np.bitwise_or.at(np.frombuffer(self.on_disk, dtype=np.uint8), bit >> 3,
                         np.left_shift(1, bit & 7).astype(np.uint8))
        # Sorted, the rows go into the B-tree in order: far fewer pages touched per row (and sorted
        # keys, not (key, owner) pairs: a list of pairs would cost as much memory again as the dict).
        keys = sorted(owners)
        for start in range(0, len(keys), self.SPILL_ROWS):
            part = keys[start:start + self.SPILL_ROWS]
            insert_rows(self.db, "seen", list(chain.from_iterable(zip(part, map(owners.__getitem__, part)))))
        self.owners = {}

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
        self.path.unlink(missing_ok=True)
