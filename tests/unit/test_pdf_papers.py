"""`curate pdf` on a two-column PDF we drew: captions (one split across lines), figure and table
regions cropped, text from the text layer, mentions; encrypted and damaged files are reported."""

from PIL import Image

from scitune.curate.papers import curate_papers
from scitune.sources.demo_papers import write_pdf_paper
from scitune.sources.pdf import read_pdf_paper


def test_captions_regions_and_mentions(tmp_path):
    truth = write_pdf_paper(tmp_path / "demo.pdf")
    records, rejected, pages = read_pdf_paper(tmp_path / "demo.pdf", tmp_path / "out")
    assert pages == 2 and not rejected
    found = {r.source.figure_id: r for r in records}
    assert set(found) == set(truth)
    for figure_id, (_, caption, mentions) in truth.items():
        assert found[figure_id].caption == caption
        assert len(found[figure_id].mentions) == mentions, (figure_id, found[figure_id].mentions)
    assert {"ours", "baseline", "epoch"} <= set(found["Figure1"].ocr), "labels from the text layer, no OCR"
    assert found["Table1"].figure_type == "table" and {"0.91", "0.87"} <= set(found["Table1"].ocr)
    assert found["Figure1"].figure_type is None, "no type without evidence"
    with Image.open(tmp_path / "out" / found["Figure3"].image) as wide, \
            Image.open(tmp_path / "out" / found["Figure1"].image) as narrow:
        assert wide.width > 1.6 * narrow.width, "a full-width figure is cropped across both columns"


def test_encrypted_and_damaged_pdfs_are_reported_and_the_batch_goes_on(tmp_path):
    from pypdf import PdfReader, PdfWriter

    write_pdf_paper(tmp_path / "good.pdf")
    writer = PdfWriter(clone_from=PdfReader(tmp_path / "good.pdf"))
    writer.encrypt("secret")
    with open(tmp_path / "locked.pdf", "wb") as handle:
        writer.write(handle)
    (tmp_path / "damaged.pdf").write_bytes((tmp_path / "good.pdf").read_bytes()[:2000])
    summary = curate_papers([tmp_path / "good.pdf", tmp_path / "locked.pdf", tmp_path / "damaged.pdf"],
                            tmp_path / "out", read_pdf_paper, workers=2)
    assert summary["figures"] == 4 and summary["pages"] == 2
    rejected = (tmp_path / "out" / "rejected.jsonl").read_text()
    assert "locked" in rejected and "damaged" in rejected and "cannot open the PDF" in rejected
