"""What the benchmark readers share: the result container, parquet rows, embedded image bytes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

log = logging.getLogger(__name__)

Item = TypeVar("Item", bound=BaseModel)


class BenchmarkItem(BaseModel):
    """Base of every benchmark record: validated on construction, immutable, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    image: str | None = None
    """Image path relative to the set's image root; None for a text-only item."""


@dataclass
class BenchmarkSet(Generic[Item]):
    """Items by id in source order, the folder their images are relative to, and what was rejected.

    `image_root` is None for a parquet release read without writing its images (scoring only)."""

    image_root: Path | None
    items: dict[str, Item] = field(default_factory=dict)
    rejected: list[tuple[str, str]] = field(default_factory=list)

    def add(self, item_id: str, make: Callable[[], Item]) -> None:
        """Build one item; a duplicate id or a record that fails validation is rejected with the reason."""
        if item_id in self.items:
            self.rejected.append((item_id, "duplicate id; the first occurrence is kept"))
            return
        try:
            self.items[item_id] = make()
        except (ValidationError, ValueError, TypeError, KeyError) as error:
            if isinstance(error, ValidationError):
                first = error.errors()[0]
                reason = f"{'.'.join(map(str, first['loc']))}: {first['msg']}" if first["loc"] else first["msg"]
            else:
                reason = str(error)
            self.rejected.append((item_id, reason))

    def reject(self, item_id: str, reason: str) -> None:
        self.rejected.append((item_id, reason))

    def select(self, ids: list[str]) -> BenchmarkSet[Item]:
        """Only the listed ids, in that order; an id with no item is reported as rejected."""
        kept: BenchmarkSet[Item] = BenchmarkSet(self.image_root, rejected=list(self.rejected))
        known = {item_id for item_id, _ in self.rejected}
        for item_id in ids:
            if item_id in self.items:
                kept.items[item_id] = self.items[item_id]
            elif item_id not in known:
                kept.rejected.append((item_id, "listed but not in the benchmark files"))
        return kept

    def log_summary(self, name: str) -> None:
        log.info("%s: %d items read, %d rejected", name, len(self.items), len(self.rejected))
        for item_id, reason in self.rejected[:10]:
            log.warning("%s: %s rejected: %s", name, item_id, reason)


def image_bytes(value: object) -> bytes | None:
    """The bytes of a Hugging Face `Image` cell ({'bytes': ..., 'path': ...}); None when absent."""
    if isinstance(value, dict):
        data = value.get("bytes")
        return data if isinstance(data, (bytes, bytearray)) and data else None
    if isinstance(value, (bytes, bytearray)) and value:  # a plain `binary` column (ahmed-masry/ChartQA)
        return bytes(value)
    return None


def parquet_files(source: Path) -> list[Path]:
    """A parquet file, or every parquet file under a folder (sorted, so row ids are stable)."""
    source = Path(source)
    if source.is_dir():
        files = sorted(source.rglob("*.parquet"))
        if not files:
            raise FileNotFoundError(f"no .parquet files under {source}")
        return files
    if not source.is_file():
        raise FileNotFoundError(f"{source} does not exist")
    return [source]


def parquet_rows(path: Path, columns: list[str] | None = None) -> Iterator[tuple[int, dict]]:
    """(row number, row) for each row of a parquet file, read row group by row group (memory stays
    at one group, images included)."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    present = set(parquet.schema_arrow.names)
    if columns is not None:
        missing = [c for c in columns if c not in present]
        if missing:
            raise ValueError(f"{path}: missing columns {', '.join(missing)} (it has {', '.join(sorted(present))})")
    row = 0
    for group in range(parquet.num_row_groups):
        for record in parquet.read_row_group(group, columns=columns).to_pylist():
            yield row, record
            row += 1


def parquet_columns(path: Path) -> set[str]:
    import pyarrow.parquet as pq

    return set(pq.ParquetFile(path).schema_arrow.names)


def split_of(path: Path) -> str:
    """The split a Hugging Face data file holds, from its name: `testmini-00000-of-00001-….parquet` →
    `testmini`; the parquet-converter layout `…/test/0000.parquet` → `test`."""
    stem = Path(path).name.split("-")[0].removesuffix(".parquet")
    return Path(path).parent.name if stem.isdigit() else stem
