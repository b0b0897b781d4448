"""SciFIBench (Roberts et al., NeurIPS 2024 D&B): the Hugging Face parquet `jonathan-roberts1/SciFIBench`.

Columns (dataset_infos.json): ID (int64), Question, Options (list of "A) …" strings), Answer (a letter),
Category, Images (list of {bytes, path}). Splits are files `data/{split}-*.parquet`:
`CS_Figure2Caption`, `CS_Caption2Figure`, `General_Figure2Caption`, `General_Caption2Figure` (the
first release named the CS ones `Figure2Caption` / `Caption2Figure`). Ids are `{split}-{ID}`.

Figure→Caption items have one image (the figure). Caption→Figure items have one image per option;
a model that takes one image sees them as one labelled grid (A) … E) in reading order), made here
and written, like every image, once under its SHA-1 into IMAGE_DIR.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Literal

from PIL import Image, ImageDraw, ImageFont
from pydantic import model_validator

from scitune.sources.benchmarks.common import (BenchmarkItem, BenchmarkSet, image_bytes, parquet_files, parquet_rows,
                                               split_of)
from scitune.sources.images import store_image
from scitune.sources.images import DEFAULT_MAX_PIXELS

TASKS = ("Figure2Caption", "Caption2Figure")


class SciFIBenchItem(BenchmarkItem):
    """One SciFIBench question: pick the caption for a figure, or the figure for a caption."""

    question: str
    options: list[str]
    answer: str
    task: Literal["Figure2Caption", "Caption2Figure"]
    domain: str
    """'CS' or 'General' (the split's prefix; the first release's splits are CS)."""
    category: str | None = None

    @model_validator(mode="after")
    def _answer_is_an_option(self) -> SciFIBenchItem:
        letters = [chr(ord("A") + i) for i in range(len(self.options))]
        if len(self.options) < 2 or self.answer not in letters:
            raise ValueError(f"answer {self.answer!r} is not one of the option letters {letters}")
        return self


def composite(images: list[bytes], tile: int = 336, max_pixels: int = DEFAULT_MAX_PIXELS) -> bytes:
    """The option figures as one PNG grid, each scaled into a TILE square under its letter."""
    columns = min(3, len(images))
    rows = math.ceil(len(images) / columns)
    label = 28
    canvas = Image.new("RGB", (columns * tile, rows * (tile + label)), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=22)
    for n, data in enumerate(images):
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > max_pixels:
                raise ValueError(f"option {chr(65 + n)} has {image.width}x{image.height} pixels, over the limit")
            figure = image.convert("RGB")
        figure.thumbnail((tile - 8, tile - 8), Image.Resampling.LANCZOS)
        x, y = (n % columns) * tile, (n // columns) * (tile + label)
        draw.text((x + 6, y + 3), f"{chr(65 + n)})", fill="black", font=font)
        canvas.paste(figure, (x + (tile - figure.width) // 2, y + label + (tile - figure.height) // 2))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()


def _split_parts(split: str) -> tuple[str, str]:
    domain, _, task = split.rpartition("_")
    if task not in TASKS:
        raise ValueError(f"split {split!r} is not a SciFIBench task ({', '.join(TASKS)})")
    return domain or "CS", task


def read_parquet(source: Path, image_dir: Path | None, splits: tuple[str, ...] | None = None
                 ) -> BenchmarkSet[SciFIBenchItem]:
    """SciFIBench parquet files (a file or a folder); only SPLITS when given."""
    result: BenchmarkSet[SciFIBenchItem] = BenchmarkSet(Path(image_dir) if image_dir else None)
    files = [f for f in parquet_files(source) if splits is None or split_of(f) in splits]
    if not files:
        raise FileNotFoundError(f"no SciFIBench parquet file{' of ' + ', '.join(splits) if splits else ''} in {source}")
    for file in files:
        split = split_of(file)
        domain, task = _split_parts(split)
        for row, record in parquet_rows(file, ["ID", "Question", "Options", "Answer", "Category", "Images"]):
            item_id = f"{split}-{record['ID']}"
            pictures = [image_bytes(cell) for cell in record["Images"] or []]
            if not pictures or any(p is None for p in pictures):
                result.reject(item_id, f"{file.name} row {row}: an image has no bytes")
                continue
            expected = 1 if task == "Figure2Caption" else len(record["Options"] or [])
            if len(pictures) != expected:
                result.reject(item_id, f"{file.name} row {row}: {len(pictures)} images for a {task} item "
                                       f"(expected {expected})")
                continue
            try:  # scoring alone (no image folder) needs no grid
                data = pictures[0] if task == "Figure2Caption" or result.image_root is None else composite(pictures)
            except (OSError, ValueError) as error:
                result.reject(item_id, f"{file.name} row {row}: cannot read an option image: {error}")
                continue
            result.add(item_id, lambda r=record, i=item_id, d=data, task=task, domain=domain: SciFIBenchItem(
                id=i, image=store_image(d, result.image_root), question=r["Question"], options=list(r["Options"]),
                answer=str(r["Answer"]).strip(), task=task, domain=domain, category=r.get("Category")))
    return result
