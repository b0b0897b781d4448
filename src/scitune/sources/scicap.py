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
import marshal
import sqlite3
import tempfile
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import ijson

from scitune.contracts import FigureRecord, Rejection
from scitune.sources.sqlite_rows import PARAMETERS, insert_rows, placeholders
from scitune.sources.streams import Utf8Repair, has_bad_text, paper_of, texts, validated

LICENSE = "CC BY-NC-SA 4.0"

LOOKUP = PARAMETERS
"""Images per annotation lookup (a bound parameter each)."""


def _items(path: Path, prefix: str) -> Iterator[dict]:
    with open(path, "rb") as handle:
        yield from ijson.items(Utf8Repair(handle), prefix, use_float=True)


def read_scicap_challenge(path: Path, dataset: str = "scicap") -> Iterator[FigureRecord | Rejection]:
    """Stream FigureRecords (raw figure_type) and Rejections from a challenge `{split}.json`."""
    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        index = sqlite3.connect(Path(tmp) / "annotations.db")
        index.execute("PRAGMA journal_mode=OFF")
        index.execute("PRAGMA synchronous=OFF")
        # Pass 1: every annotation's texts into a table, in file order (rowid - 1: its position),
        # many rows per INSERT; the index by image id is built once, at the end, and holds the texts too, so that pass 2
        # finds an image's annotation in one B-tree search, not two (the temporary file is larger).
        index.execute("CREATE TABLE ann (image_id TEXT, texts BLOB)")
        batch = []
        with open(path, "rb") as handle:
            whole = Utf8Repair(handle)
            for annotation in ijson.items(whole, "annotations.item", use_float=True):
                batch += (str(annotation.get("image_id")), _annotation_texts(annotation))
                if len(batch) == PARAMETERS:
                    insert_rows(index, "ann", batch)
                    batch = []
        insert_rows(index, "ann", batch)
        index.execute("CREATE INDEX by_image ON ann (image_id, texts)")
        # Pass 1 parsed every byte, so it knows whether any was bad; pass 2's own stream may not have
        # reached an annotation's bad bytes yet when it yields the records of the first images.
        bad_bytes = whole.suspect
        seconds = set()
        first_of = {}
        for key, rowid in index.execute("SELECT image_id, rowid FROM ann WHERE image_id IN "
                                        "(SELECT image_id FROM ann GROUP BY image_id HAVING COUNT(*) > 1) ORDER BY rowid"):
            if first_of.setdefault(key, rowid) != rowid:
                seconds.add(rowid)
                yield Rejection(id=key, dataset=dataset, where=f"{path.name} annotations[{rowid - 1}]",
                                kind="second_annotation", reason=f"second annotation of image id {key} (the first is used)")
        # Pass 2: the images, a block at a time: one statement finds the block's annotations (a
        # statement per image cost more than building the records); a bit per annotation marks it used.
        count = index.execute("SELECT MAX(rowid) FROM ann").fetchone()[0] or 0
        used = bytearray((count >> 3) + 1)
        images = enumerate(_items(path, "images.item"))
        name = path.name
        while block := list(islice(images, LOOKUP)):
            keys = [str(image.get("id")) for _, image in block]
            wanted = list(dict.fromkeys(keys))
            found = {}
            for key, rowid, data in index.execute(
                    f"SELECT image_id, rowid, texts FROM ann WHERE image_id IN ({placeholders(len(wanted))}) "
                    "ORDER BY rowid", wanted):
                used[rowid >> 3] |= 1 << (rowid & 7)
                found.setdefault(key, data)
            items = [_challenge_record(image, found.get(key), key, dataset, number, name, bad_bytes)
                     for (number, image), key in zip(block, keys)]
            yield from validated(items)
        unused = [rowid for byte, bits in enumerate(used) if bits != 255 for rowid in range(byte * 8, byte * 8 + 8)
                  if not bits >> (rowid & 7) & 1 and 0 < rowid <= count and rowid not in seconds]
        for start in range(0, len(unused), LOOKUP):
            part = unused[start:start + LOOKUP]
            for (key,) in index.execute(f"SELECT image_id FROM ann WHERE rowid IN ({placeholders(len(part))}) "
                                        "ORDER BY rowid", part):
                yield Rejection(id=key, dataset=dataset, where=path.name, kind="annotation_without_image",
                                reason=f"annotation of image id {key} has no image")
        index.close()


def _annotation_texts(annotation: dict) -> bytes:
    """What a record takes from its annotation: the caption, mentions and paragraphs as flat texts.
    marshal, not JSON or pickle: this private temp file only round-trips strings and lists, fastest."""
    caption = annotation.get("caption_no_index") or annotation.get("caption") or ""
    return marshal.dumps((" ".join(texts(caption)), texts(annotation.get("mention")),
                          texts(annotation.get("paragraph"))))


def _rejected(key: str, dataset: str, file: str, number: int, kind: str, reason: str) -> Rejection:
    """A rejection located in its file (the location is written only for rejections: most records
    are kept)."""
    return Rejection(id=key, dataset=dataset, where=f"{file} images[{number}]", kind=kind, reason=reason)


def _challenge_record(image: dict, annotation: bytes | None, key: str, dataset: str, number: int, file: str,
                      suspect: bool) -> dict | Rejection:
    """The fields of one image's FigureRecord (validated by the caller, a block at a time), or why it
    has none."""
    if annotation is None:
        return _rejected(key, dataset, file, number, "image_without_annotation", f"image id {key} has no annotation")
    file_name = image.get("file_name")
    if not isinstance(file_name, str) or not file_name:
        return _rejected(key, dataset, file, number, "no_file_name", "image has no file_name")
    caption, mentions, paragraphs = marshal.loads(annotation)
    ocr = texts(image.get("ocr"))
    if suspect and has_bad_text(caption, ocr, mentions, paragraphs, file_name):
        return _rejected(key, dataset, file, number, "invalid_utf8", "text is not valid UTF-8")
    paper = str(image.get("paper_id") or paper_of(file_name))
    return {"id": f"{dataset}-{key}", "image": file_name, "figure_type": image.get("figure_type"), "caption": caption,
            "ocr": ocr, "mentions": mentions, "paragraphs": paragraphs,
            "source": {"dataset": dataset, "paper_id": paper, "figure_id": file_name.rsplit(".", 1)[0],
                       "license": LICENSE}}


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
