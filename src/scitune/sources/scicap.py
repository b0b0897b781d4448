"""SciCap readers: the challenge release (one JSON per split) and the original release (one JSON per figure).

Challenge (`CrowdAILab/scicap`): `{split}.json` = {"images": [{id, file_name, figure_type, ocr, …}],
"annotations": [{image_id, caption_no_index, paragraph, mention, …}]}. Images and annotations are
joined **by id**; the file is streamed twice (annotations into an on-disk index, then images), so
memory does not grow with the corpus. An image without an annotation, an annotation without an
image and a second annotation of one image are each rejected with that reason.

Original (`tingyaohsu/SciCap`): one JSON per figure with `figure-ID`, `paper-ID`, `figure-type`,
`Img-text` (OCR), `contains-subfigure` and the caption as `0-originally-extracted` (the author's
text, used here) and its tokenised/normalised variants (not used: they are machine rewrites).
"""

from __future__ import annotations

import json
import pickle
import sqlite3
import tempfile
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import ijson

from scitune.contracts import FigureRecord, Rejection
from scitune.sources.streams import Utf8Repair, has_bad_text, paper_of, texts

LICENSE = "CC BY-NC-SA 4.0"

LOOKUP = 500
"""Images per annotation lookup: under SQLite's limit on bound parameters, whatever its version."""


def _items(path: Path, prefix: str) -> Iterator[tuple[dict, Utf8Repair]]:
    with open(path, "rb") as handle:
        stream = Utf8Repair(handle)
        for item in ijson.items(stream, prefix, use_float=True):
            yield item, stream


def read_scicap_challenge(path: Path, dataset: str = "scicap") -> Iterator[FigureRecord | Rejection]:
    """Stream FigureRecords (raw figure_type) and Rejections from a challenge `{split}.json`."""
    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        index = sqlite3.connect(Path(tmp) / "annotations.db")
        index.execute("PRAGMA journal_mode=OFF")
        index.execute("PRAGMA synchronous=OFF")
        # Pass 1: every annotation into a staging table, in batches (one statement per 2,000).
        index.execute("CREATE TABLE raw (image_id TEXT, number INTEGER, data BLOB)")
        batch = []
        with open(path, "rb") as handle:
            whole = Utf8Repair(handle)
            for number, annotation in enumerate(ijson.items(whole, "annotations.item", use_float=True)):
                # pickle, not JSON: this private temp file only round-trips our own dicts, 3x faster.
                batch.append((str(annotation.get("image_id")), number, pickle.dumps(annotation, protocol=5)))
                if len(batch) == 2000:
                    index.executemany("INSERT INTO raw VALUES (?, ?, ?)", batch)
                    batch = []
        index.executemany("INSERT INTO raw VALUES (?, ?, ?)", batch)
        # Pass 1 parsed every byte, so it knows whether any was bad; pass 2's own stream may not have
        # reached an annotation's bad bytes yet when it yields the records of the first images.
        bad_bytes = whole.suspect
        first = "SELECT MIN(rowid) FROM raw GROUP BY image_id"
        for key, number in index.execute(f"SELECT image_id, number FROM raw WHERE rowid NOT IN ({first}) "
                                         "ORDER BY number"):
            yield Rejection(id=key, dataset=dataset, where=f"{path.name} annotations[{number}]",
                            kind="second_annotation", reason=f"second annotation of image id {key} (the first is used)")
        index.execute(f"CREATE TABLE ann AS SELECT image_id, data, 0 AS used FROM raw WHERE rowid IN ({first})")
        index.execute("CREATE UNIQUE INDEX by_image ON ann (image_id)")
        index.execute("DROP TABLE raw")
        index.commit()
        # Pass 2: the images, a block at a time: one statement finds the block's annotations and
        # marks them used (a statement per image cost more than building the records).
        images = enumerate(_items(path, "images.item"))
        while block := list(islice(images, LOOKUP)):
            keys = [str(image.get("id")) for _, (image, _) in block]
            wanted = list(dict.fromkeys(keys))
            found = dict(index.execute(f"UPDATE ann SET used = 1 WHERE image_id IN ({', '.join('?' * len(wanted))}) "
                                       "RETURNING image_id, data", wanted).fetchall())
            for (number, (image, _)), key in zip(block, keys):
                data = found.get(key)
                if data is None:
                    yield Rejection(id=key, dataset=dataset, where=f"{path.name} images[{number}]",
                                    kind="image_without_annotation", reason=f"image id {key} has no annotation")
                    continue
                yield _challenge_record(image, pickle.loads(data), dataset, number, path.name, bad_bytes)
        for (key,) in index.execute("SELECT image_id FROM ann WHERE used = 0"):
            yield Rejection(id=key, dataset=dataset, where=path.name, kind="annotation_without_image",
                            reason=f"annotation of image id {key} has no image")
        index.close()


def _challenge_record(image: dict, annotation: dict, dataset: str, number: int, file: str,
                      suspect: bool) -> FigureRecord | Rejection:
    file_name = image.get("file_name")
    record_id = str(image.get("id"))
    where = f"{file} images[{number}]"
    if not isinstance(file_name, str) or not file_name:
        return Rejection(id=record_id, dataset=dataset, where=where, kind="no_file_name", reason="image has no file_name")
    caption = annotation.get("caption_no_index") or annotation.get("caption") or ""
    fields = (caption, image.get("ocr"), annotation.get("mention"), annotation.get("paragraph"), file_name)
    if suspect and has_bad_text(*fields):
        return Rejection(id=record_id, dataset=dataset, where=where, kind="invalid_utf8", reason="text is not valid UTF-8")
    paper = str(image.get("paper_id") or paper_of(file_name))
    return FigureRecord(
        id=f"{dataset}-{record_id}", image=file_name, figure_type=image.get("figure_type"),
        caption=" ".join(texts(caption)), ocr=texts(image.get("ocr")), mentions=texts(annotation.get("mention")),
        paragraphs=texts(annotation.get("paragraph")),
        source={"dataset": dataset, "paper_id": paper, "figure_id": file_name.rsplit(".", 1)[0], "license": LICENSE},
    )


def read_scicap_original(folder: Path, dataset: str = "scicap") -> Iterator[FigureRecord | Rejection]:
    """Stream records from a folder of per-figure JSON files (the original SciCap release), in name
    order, or from one such file."""
    folder = Path(folder)
    for path in [folder] if folder.is_file() else sorted(folder.rglob("*.json")):
        try:
            data = json.loads(path.read_bytes().decode("utf-8"))
        except UnicodeDecodeError:
            yield Rejection(id=path.stem, dataset=dataset, where=path.name, kind="invalid_utf8",
                            reason="text is not valid UTF-8")
            continue
        except json.JSONDecodeError as error:
            yield Rejection(id=path.stem, dataset=dataset, where=path.name, kind="invalid_json",
                            reason=f"not valid JSON: {error}")
            continue
        figure = data.get("figure-ID") if isinstance(data, dict) else None
        if not figure:
            yield Rejection(id=path.stem, dataset=dataset, where=path.name, kind="no_figure_id", reason="no 'figure-ID'")
            continue
        original = data.get("0-originally-extracted")
        caption = original.get("caption") if isinstance(original, dict) else original
        yield FigureRecord(
            id=f"{dataset}-{Path(figure).stem}", image=figure, figure_type=data.get("figure-type"),
            caption=" ".join(texts(caption)), ocr=texts(data.get("Img-text")),
            source={"dataset": dataset, "paper_id": str(data.get("paper-ID") or paper_of(figure)),
                    "figure_id": Path(figure).stem, "license": LICENSE},
        )
