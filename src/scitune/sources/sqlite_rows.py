"""Many rows per SQLite statement, for the on-disk indexes that keep curation's memory flat (the
SciCap annotation join, the dedupe keys): one statement step per row cost twice as much as
SQLite's own B-tree work."""

from __future__ import annotations

import sqlite3
from functools import lru_cache

PARAMETERS = 500
"""Bound parameters per statement: under SQLite's limit, whatever its version."""


@lru_cache(maxsize=64)
def _insert(table: str, columns: int, rows: int) -> str:
    row = "(" + ", ".join("?" * columns) + ")"
    return f"INSERT INTO {table} VALUES " + ", ".join([row] * rows)


def insert_rows(db: sqlite3.Connection, table: str, values: list, columns: int = 2) -> None:
    """Insert VALUES (flat: the first row's COLUMNS values, then the next row's, …) into TABLE, in
    order (a table with rowids numbers them as listed), as many rows per statement as fit."""
    if len(values) % columns:
        raise ValueError(f"{len(values)} values do not make rows of {columns} columns for table {table}")
    step = PARAMETERS // columns * columns
    for start in range(0, len(values), step):
        part = values[start:start + step]
        db.execute(_insert(table, columns, len(part) // columns), part)


def placeholders(count: int) -> str:
    """'?, ?, …' for COUNT values of an `IN (…)` list."""
    return ", ".join("?" * count)
