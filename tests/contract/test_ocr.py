"""Both OCR engines read text we rendered ourselves and real arXiv figures; results are cached by image bytes."""

import shutil

import pytest
from matplotlib.figure import Figure

from scitune.config import FigureCurationConfig
from scitune.contracts import FigureRecord, read_jsonl
from scitune.curate.ocr import OcrCache, RapidOcr, Tesseract, lines

WORDS = ["Temperature", "Pressure", "2048", "Accuracy"]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    path = tmp_path_factory.mktemp("ocr") / "words.png"
    fig = Figure(figsize=(4, 2.4), dpi=100)
    ax = fig.subplots()
    ax.axis("off")
    for n, word in enumerate(WORDS):
        ax.text(0.05, 0.85 - n * 0.25, word, fontsize=18)
    fig.savefig(path)
    return path


@pytest.mark.parametrize("engine", [Tesseract, RapidOcr])
def test_engine_reads_rendered_words_with_boxes(engine, rendered):
    words = engine().read(rendered)
    found = " ".join(lines(words))
    assert all(word in found for word in WORDS), found
    assert all(w.box[2] > w.box[0] and w.box[3] > w.box[1] for w in words)
    top = min(words, key=lambda w: w.box[1])
    assert top.text.startswith("Temperature"), "reading order is top to bottom"


def test_cache_reads_each_image_once_whatever_its_name(rendered, tmp_path):
    copy = tmp_path / "other-name.png"
    shutil.copy(rendered, copy)
    cache = OcrCache(Tesseract(), tmp_path / "cache")
    first, second = cache.read(rendered), cache.read(copy)
    assert first == second and (cache.misses, cache.hits) == (1, 1)


@pytest.mark.shared_data
def test_tesseract_reads_a_real_arxiv_figure(shared_data_dir):
    words = Tesseract().read(shared_data_dir / "scicap_figures" / "1003.2724v1-Figure12-1.png")
    assert "generations" in " ".join(lines(words)).lower()


def test_curation_fills_missing_ocr_and_keeps_what_records_carry(rendered, tmp_path):
    from transformers import AutoTokenizer

    from scitune.curate.corpus import FigureCuration
    from scitune.model.embedded import embedded_lm_folder

    shutil.copy(rendered, tmp_path / "a.png")
    records = [
        FigureRecord(id="a", image="a.png", figure_type="table", caption="Quantities.", source={
            "dataset": "t", "paper_id": "p", "figure_id": "a", "license": "x"}),
        FigureRecord(id="b", image="a.png", figure_type="table", caption="Other.", ocr=["given"], source={
            "dataset": "t", "paper_id": "q", "figure_id": "b", "license": "x"}),
    ]
    cfg = FigureCurationConfig(ocr="tesseract", dedupe=False, test_fraction=0.0)
    tokenizer = AutoTokenizer.from_pretrained(embedded_lm_folder())
    result = FigureCuration(cfg, tmp_path / "out", tmp_path, tokenizer).run(records)
    kept = {r.id: r for r in read_jsonl(tmp_path / "out" / "records_train.jsonl", FigureRecord)}
    assert "Pressure" in " ".join(kept["a"].ocr) and kept["b"].ocr == ["given"]
    assert result["ocr"]["filled"] == 1 and result["ocr"]["carried"] == 1
