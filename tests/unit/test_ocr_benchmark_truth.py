"""benchmarks/ocr_truth_figures.json, the hand transcription behind `ocr_accuracy.py --set figures`:
every figure it names must still be in the pdf set, or the benchmark would fail (or, were the check
dropped, shrink) without anyone noticing. No OCR runs here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_hand_truth_says_how_it_was_made_and_transcribes_every_figure_it_names():
    truth = json.loads((ROOT / "benchmarks" / "ocr_truth_figures.json").read_text(encoding="utf-8"))
    assert "transcribed by eye" in truth["_about"]
    empty = [name for name, text in truth.items() if not text.split()]
    assert not empty, f"figures named with no words: {empty}"
    assert len(truth) - 1 >= 30, "a set this small would not say much about the pdf set's 64 figures"


@pytest.mark.shared_data
def test_every_hand_transcribed_figure_is_a_one_page_pdf_of_the_papers(ocr_benchmark, shared_data_dir):
    """The quick check (the pdf set's names and files); the next test checks its text-layer rules too."""
    import pypdfium2

    papers = shared_data_dir / "papers"
    gone, not_one_page = [], []
    for name in ocr_benchmark.hand_truth():
        pdf = ocr_benchmark.pdf_path(papers, name)
        if not pdf.is_file():
            gone.append(name)
            continue
        assert ocr_benchmark.pdf_name(papers, pdf) == name
        document = pypdfium2.PdfDocument(pdf)
        try:
            if len(document) != 1:
                not_one_page.append(name)
        finally:
            document.close()
    assert not gone, f"ocr_truth_figures.json names figure PDFs that no longer exist: {gone}"
    assert not not_one_page, f"ocr_truth_figures.json names PDFs the pdf set leaves out (not one page): {not_one_page}"


@pytest.mark.slow
@pytest.mark.shared_data
def test_every_hand_transcribed_figure_is_in_the_pdf_set(ocr_benchmark, shared_data_dir):
    """pdfplumber reads every object of the 64 pages: half a minute."""
    papers = shared_data_dir / "papers"
    left_out = []
    for name in ocr_benchmark.hand_truth():
        pdf = ocr_benchmark.pdf_path(papers, name)
        words, _, why = ocr_benchmark.layer_words(pdf) if pdf.is_file() else (None, 0.0, "no such file")
        if words is None:
            left_out.append(f"{name} ({why})")
    assert not left_out, f"ocr_truth_figures.json names figures the pdf set leaves out: {left_out}"


def test_the_page_crops_hand_truth_says_how_it_was_made():
    truth = json.loads((ROOT / "benchmarks" / "ocr_truth_pages.json").read_text(encoding="utf-8"))
    assert "transcribed by eye" in truth["_about"] and "not from any OCR engine" in truth["_about"]
    empty = [name for name, text in truth.items() if not text.split()]
    assert not empty, f"crops named with no words: {empty}"
    assert len(truth) - 1 >= 30


@pytest.mark.slow
@pytest.mark.shared_data
def test_every_hand_transcribed_crop_is_in_the_pages_set(ocr_benchmark, shared_data_dir, tmp_path):
    """The papers reader crops the figures of the 12 compiled papers: about 15 s."""
    crops = ocr_benchmark.crops_set(shared_data_dir / "papers", tmp_path)  # raises naming the crops it lacks
    assert len(crops) == len(ocr_benchmark.hand_truth(ocr_benchmark.PAGES_TRUTH))
