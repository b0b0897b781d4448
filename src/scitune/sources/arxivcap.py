"""ArxivCap reader: parquet shards, one row per paper, read shard by shard and row group by row group.

Each row: `src` (the arXiv id), `title`, `abstract`, and `caption_images`: a list of figures, each
{`caption`, `cil_pairs`: [{`sub_caption`, `image_file`, `image`: {bytes, path}, `image_ocr`}]}.
Every image of a figure becomes one FigureRecord (caption + its sub-caption, OCR from
`image_ocr`). Image bytes are written once into IMAGE_DIR under their SHA-1, so names from the
shard never become paths. ArxivCap has no figure type: T is left out for these records.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq

from scitune.contracts import FigureRecord, Rejection
from scitune.sources.images import store_image
from scitune.sources.streams import has_bad_text, texts

LICENSE = "CC BY 4.0 (ArxivCap; each paper keeps its own license)"


def read_arxivcap(shards: list[Path], image_dir: Path, dataset: str = "arxivcap") -> Iterator[FigureRecord | Rejection]:
    image_dir = Path(image_dir)
    for shard in shards:
        parquet = pq.ParquetFile(shard)
        row_number = 0
        for batch in parquet.iter_batches(batch_size=64, columns=["src", "caption_images"]):
            for row in batch.to_pylist():
                where = f"{Path(shard).name} row {row_number}"
                row_number += 1
                paper = str(row.get("src") or "")
                for figure_number, figure in enumerate(row.get("caption_images") or []):
                    for pair_number, pair in enumerate(figure.get("cil_pairs") or []):
                        record_id = f"{paper}-{figure_number}-{pair_number}"
                        yield _record(paper, record_id, figure, pair, image_dir, dataset, where)


def _record(paper, record_id, figure, pair, image_dir, dataset, where) -> FigureRecord | Rejection:
    if not paper:
        return Rejection(id=record_id, dataset=dataset, where=where, kind="no_paper_id", reason="row has no paper id ('src')")
    image = pair.get("image") or {}
    data = image.get("bytes") if isinstance(image, dict) else None
    if not data:
        return Rejection(id=record_id, dataset=dataset, where=where, kind="no_image_bytes", reason="figure has no image bytes")
    caption = " ".join(texts(figure.get("caption")) + texts(pair.get("sub_caption")))
    if has_bad_text(caption, pair.get("image_ocr")):
        return Rejection(id=record_id, dataset=dataset, where=where, kind="invalid_utf8", reason="text is not valid UTF-8")
    return FigureRecord(
        id=f"{dataset}-{record_id}", image=store_image(data, image_dir), figure_type=None, caption=caption,
        ocr=texts(pair.get("image_ocr")),
        source={"dataset": dataset, "paper_id": paper, "figure_id": str(pair.get("image_file") or record_id),
                "license": LICENSE},
    )
