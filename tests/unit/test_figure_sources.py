"""Readers of SciCap (both releases), VisText, ArxivCap and plain folders, on small files written in
each documented schema (the originals cannot be downloaded here)."""

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from scitune.contracts import FigureRecord, Rejection
from scitune.sources.figures import detect_format, read_figures


def _png(seed: int, size=(24, 16)) -> bytes:
    image = Image.new("RGB", size, ((seed * 37) % 256, (seed * 91) % 256, (seed * 53) % 256))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _split(items):
    items = list(items)
    return ([i for i in items if isinstance(i, FigureRecord)], [i for i in items if isinstance(i, Rejection)])


def test_scicap_challenge_joins_by_id_and_reports_orphans(tmp_path):
    data = {
        "images": [
            {"id": 1, "file_name": "1001.0001v1-Figure1-1.png", "figure_type": "Graph Plot", "ocr": ["loss", "epoch"]},
            {"id": 2, "file_name": "1001.0001v1-Figure2-1.png", "figure_type": "Table", "ocr": []},
            {"id": 3, "file_name": "1002.0002v2-Figure1-1.png", "figure_type": "Bar Chart", "ocr": "acc"},
            {"id": 4, "file_name": "1002.0002v2-Figure2-1.png", "figure_type": "Equation"},
        ],
        # Not in image order: a join by position would pair the wrong captions.
        "annotations": [
            {"image_id": 3, "caption_no_index": "Accuracy per model.", "mention": [["Fig. 1 compares models."]],
             "paragraph": ["As Fig. 1 shows, ours wins."]},
            {"image_id": 1, "caption_no_index": "Training loss.", "mention": [], "paragraph": []},
            {"image_id": 2, "caption_no_index": "Results on four sets.", "mention": [], "paragraph": []},
            {"image_id": 2, "caption_no_index": "A second annotation.", "mention": [], "paragraph": []},
            {"image_id": 9, "caption_no_index": "Orphan.", "mention": [], "paragraph": []},
        ],
    }
    path = tmp_path / "train.json"
    path.write_text(json.dumps(data))
    assert detect_format(path) == "scicap-challenge"
    records, rejected = _split(read_figures("auto", path))
    by_image = {r.image: r for r in records}
    assert by_image["1001.0001v1-Figure1-1.png"].caption == "Training loss."
    assert by_image["1002.0002v2-Figure1-1.png"].caption == "Accuracy per model."
    assert by_image["1002.0002v2-Figure1-1.png"].mentions == ["Fig. 1 compares models."]
    assert by_image["1002.0002v2-Figure1-1.png"].ocr == ["acc"]
    assert by_image["1001.0001v1-Figure2-1.png"].source.paper_id == "1001.0001v1"
    assert by_image["1001.0001v1-Figure1-1.png"].figure_type == "Graph Plot", "raw; curation normalises it"
    reasons = sorted(r.reason for r in rejected)
    assert reasons == ["annotation of image id 9 has no image", "image id 4 has no annotation",
                       "second annotation of image id 2 (the first is used)"]
    assert len(records) + len(rejected) == 6



def test_scicap_challenge_join_is_the_same_across_lookup_blocks(tmp_path):
    """Images are joined a block at a time: an image id repeated in another block still gets its
    annotation, orphans on either side are reported, records keep the order of the images."""
    from scitune.sources.scicap import LOOKUP

    n = 2 * LOOKUP + 100
    ids = [*range(n), 3, 3]  # image id 3 again, in the last block
    images = [{"id": i, "file_name": f"p{i % 7}-Figure{k}-1.png", "figure_type": "Table"} for k, i in enumerate(ids)]
    annotations = [{"image_id": i, "caption_no_index": f"Caption {i}.", "mention": [], "paragraph": []}
                   for i in reversed(range(n + 2)) if i % 97 != 5]  # 5, 102, ... have none; n, n + 1 no image
    (tmp_path / "train.json").write_text(json.dumps({"images": images, "annotations": annotations}))
    items = list(read_figures("scicap-challenge", tmp_path / "train.json"))
    kept = [(i.image, i.caption) for i in items if isinstance(i, FigureRecord)]
    assert kept == [(im["file_name"], f"Caption {im['id']}.") for im in images if im["id"] % 97 != 5]
    assert [r.reason for r in items if isinstance(r, Rejection)] == [
        *(f"image id {i} has no annotation" for i in range(n) if i % 97 == 5),
        f"annotation of image id {n + 1} has no image", f"annotation of image id {n} has no image"]


def test_invalid_utf8_rejects_only_its_record(tmp_path):
    good = {"id": 1, "file_name": "a-Figure1-1.png", "figure_type": "Table"}
    bad = {"id": 2, "file_name": "a-Figure2-1.png", "figure_type": "Table"}
    raw = json.dumps({"images": [good, bad], "annotations": [
        {"image_id": 1, "caption_no_index": "Fine.", "mention": [], "paragraph": []},
        {"image_id": 2, "caption_no_index": "BROKEN", "mention": [], "paragraph": []}]}).encode()
    (tmp_path / "s.json").write_bytes(raw.replace(b"BROKEN", b"caf\xe9 \xff"))
    records, rejected = _split(read_figures("scicap-challenge", tmp_path / "s.json"))
    assert [r.caption for r in records] == ["Fine."]
    assert [(r.id, r.reason) for r in rejected] == [("2", "text is not valid UTF-8")]


def test_bad_bytes_in_a_late_annotation_reject_an_early_image(tmp_path):
    """The images come first and the bad bytes sit in an annotation more than a read block (1 MB)
    further on: the record of the first image is still rejected, not kept with U+FFFD in its caption."""
    images = [{"id": i, "file_name": f"p{i}-Figure1-1.png", "figure_type": "Table"} for i in range(1, 601)]
    annotations = [{"image_id": 1, "caption_no_index": "BROKEN", "mention": [], "paragraph": []},
                   {"image_id": 2, "caption_no_index": "Fine.", "mention": [], "paragraph": ["x " * 700_000]}]
    raw = json.dumps({"images": images, "annotations": annotations[::-1]}).encode()
    assert raw.index(b"BROKEN") > 1 << 20
    (tmp_path / "s.json").write_bytes(raw.replace(b"BROKEN", b"caf\xe9 \xff"))
    records, rejected = _split(read_figures("scicap-challenge", tmp_path / "s.json"))
    assert [r.caption for r in records] == ["Fine."]
    assert [(r.id, r.kind) for r in rejected if r.kind != "image_without_annotation"] == [("1", "invalid_utf8")]


def test_scicap_original_release_uses_the_authors_caption(tmp_path):
    folder = tmp_path / "captions"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps({
        "contains-subfigure": False, "Img-text": ["0.5", "loss"], "paper-ID": "1001.0001v1",
        "figure-ID": "1001.0001v1-Figure3-1.png", "figure-type": "Graph Plot",
        "0-originally-extracted": "Figure 3: Loss of the model.",
        "1-lowercase-and-token-and-remove-figure-index": {"caption": "loss of the model .", "token": []},
        "2-normalized": {"2-1-basic-num": {"caption": "loss of the model .", "token": []}},
    }))
    (folder / "b.json").write_text("{not json")
    records, rejected = _split(read_figures("auto", folder))
    assert len(records) == 1 and records[0].caption == "Figure 3: Loss of the model."
    assert records[0].ocr == ["0.5", "loss"] and records[0].source.figure_id == "1001.0001v1-Figure3-1"
    assert rejected[0].where == "b.json" and "not valid JSON" in rejected[0].reason


def test_vistext_keeps_only_the_human_written_caption(tmp_path):
    path = tmp_path / "data_test.json"
    path.write_text(json.dumps([
        {"caption_id": "c1", "img_id": "42", "caption_L1": "This is a bar chart titled X.",
         "caption_L2L3": "Sales rose sharply after 2010.", "L1_properties": ["bar", "Sales", "Year"]},
        {"caption_id": "c2", "img_id": "", "caption_L1": "x", "caption_L2L3": "y"},
    ]))
    records, rejected = _split(read_figures("auto", path))
    assert records[0].caption == "Sales rose sharply after 2010." and records[0].image == "42.png"
    assert records[0].figure_type == "bar" and "L1" not in records[0].caption
    assert rejected[0].reason == "record has no img_id"


def test_arxivcap_writes_images_by_hash_and_reads_ocr(tmp_path):
    pair = pa.struct([("sub_caption", pa.string()), ("image_file", pa.string()),
                      ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
                      ("image_ocr", pa.list_(pa.string()))])
    schema = pa.schema([("src", pa.string()), ("title", pa.string()), ("caption_images", pa.list_(pa.struct(
        [("caption", pa.string()), ("cil_pairs", pa.list_(pair))])))])
    rows = [{"src": "2301.00001", "title": "T", "caption_images": [
        {"caption": "Figure 1: Two panels.", "cil_pairs": [
            {"sub_caption": "(a) left", "image_file": "../../evil.png", "image": {"bytes": _png(1), "path": "x"},
             "image_ocr": ["x", "y"]},
            {"sub_caption": "", "image_file": "b.png", "image": {"bytes": None, "path": None}, "image_ocr": []}]}]}]
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp_path / "shard-0.parquet")
    images = tmp_path / "out" / "images"
    records, rejected = _split(read_figures("auto", tmp_path / "shard-0.parquet", image_dir=images))
    assert records[0].caption == "Figure 1: Two panels. (a) left" and records[0].ocr == ["x", "y"]
    assert records[0].figure_type is None and ".." not in records[0].image
    assert (images / records[0].image).read_bytes() == _png(1)
    assert rejected[0].reason == "figure has no image bytes"
    assert not (tmp_path / "evil.png").exists()


def test_folder_with_csv_metadata(tmp_path):
    (tmp_path / "fig.png").write_bytes(_png(3))
    (tmp_path / "metadata.csv").write_text(
        "image,caption,type,ocr,mentions,paper_id\n"
        "fig.png,A plot of x.,graph plot,x | y,As Figure 1 shows. | Figure 1 again.,p1\n"
        ",No image.,table,,,p2\n")
    records, rejected = _split(read_figures("auto", tmp_path))
    assert records[0].ocr == ["x", "y"] and records[0].mentions == ["As Figure 1 shows.", "Figure 1 again."]
    assert records[0].source.paper_id == "p1"
    assert rejected[0].where == "metadata.csv:3" and rejected[0].reason == "no 'image' path"


def test_inside_root_takes_the_normal_path_form_whatever_the_spelling(tmp_path):
    """`inside_root` skips normpath for paths already normal; every spelling still gives what
    normpath gives, and a climb out of the root is refused."""
    import itertools
    import os

    from scitune.sources.images import ImageError, inside_root

    root = os.path.realpath(tmp_path)
    parts = ["a", ".", "..", "", ".hidden", "b.png", "x..y"]
    for relative in {"/".join(p) for n in (1, 2, 3) for p in itertools.product(parts, repeat=n)} | {"/abs.png"}:
        expected = os.path.normpath(os.path.join(root, relative))
        if expected.startswith(root + os.sep):
            assert inside_root(tmp_path, relative, "r") == expected, relative
        else:
            with pytest.raises(ImageError, match="item r: image .* is outside the image root"):
                inside_root(tmp_path, relative, "r")


def test_utf8_repair_returns_the_same_bytes_however_it_is_read():
    """Blocks of any size, across refills that split a character or a bad byte sequence: the bytes
    are the repaired file's, each exactly once."""
    from scitune.sources.streams import Utf8Repair

    raw = ("ab café 模型 " * 50).encode() + b"caf\xe9 \xff!" + ("ü" * 99).encode()
    repaired = raw.decode("utf-8", errors="replace").encode("utf-8")
    for chunk in (1, 3, 7, 64, 1 << 20):
        for size in (1, 2, 5, 100, -1):
            stream = Utf8Repair(io.BytesIO(raw), chunk=chunk)
            parts = []
            while part := stream.read(size):
                parts.append(part)
                if size > 0:
                    assert len(part) <= size
            assert b"".join(parts) == repaired, (chunk, size)
            assert stream.suspect
    clean = Utf8Repair(io.BytesIO("déjà vu".encode()), chunk=2)
    assert clean.read(3) + clean.read(100) + clean.read(5) == "déjà vu".encode() and not clean.suspect
