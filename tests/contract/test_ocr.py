"""OCR engines read text we rendered ourselves and real arXiv figures; results are cached by image bytes.

The default engine (`figure`) needs only what `make` installs; Tesseract is optional and its tests
skip, saying so, when the `tesseract` command is absent (CI installs it and runs them).
"""

import json
import shutil

import pytest
from matplotlib.figure import Figure

from scitune.config import FigureCurationConfig
from scitune.contracts import FigureRecord, read_jsonl
from scitune.sources.ocr import DEFAULT_ENGINE, OcrCache, lines, make_engine
from scitune.sources.ocr.rapid import rapidocr_available
from scitune.sources.ocr.score import WordScore, score_words
from scitune.sources.ocr.tesseract import tesseract_available

WORDS = ["Temperature", "Pressure", "2048", "Accuracy"]

needs_tesseract = pytest.mark.skipif(not tesseract_available(), reason="the optional engine 'tesseract' needs the "
                                     "tesseract command (apt-get install tesseract-ocr tesseract-ocr-eng)")
ENGINES = ["figure", "rapidocr", pytest.param("tesseract", marks=needs_tesseract)]


@pytest.fixture(scope="module")
def figure_engine():
    return make_engine("figure")


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


def test_the_default_engine_is_installed_by_make():
    assert DEFAULT_ENGINE == FigureCurationConfig().ocr == "figure"
    assert rapidocr_available(), "rapidocr-onnxruntime ships the default engine's models"


@pytest.mark.parametrize("name", ENGINES)
def test_engine_reads_rendered_words_with_boxes(name, rendered):
    words = make_engine(name).read(rendered)
    found = " ".join(lines(words))
    assert all(word in found for word in WORDS), found
    assert all(w.box[2] > w.box[0] and w.box[3] > w.box[1] for w in words)
    top = min(words, key=lambda w: w.box[1])
    assert top.text.startswith("Temperature"), "reading order is top to bottom"


def test_figure_engine_reads_a_plot_as_a_plot(figure_engine, tmp_path):
    """Tick labels, a turned y-axis label with its words apart, a legend without its line sample."""
    path = tmp_path / "plot.png"
    fig = Figure(figsize=(4.8, 3.6), dpi=100)
    ax = fig.subplots()
    ax.plot([0, 1, 2, 3], [0.0, 0.4, 0.2, 0.8], label="measured throughput")
    ax.set_xticks([0, 1, 2, 3])
    ax.set_yticks([0.0, 0.2, 0.4, 0.6, 0.8])
    ax.set_ylabel("Packet delivery ratio")
    ax.set_xlabel("Number of nodes")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    words = figure_engine.read(path)
    printed = "0.0 0.2 0.4 0.6 0.8 0 1 2 3 Packet delivery ratio Number of nodes measured throughput"
    score = score_words(printed, " ".join(lines(words, figure_engine.target_confidence)))
    assert score.recall >= 0.9 and score.junk <= 0.1, (score, [w.text for w in words])
    turned = [w for w in words if w.angle == 90]
    assert [w.text for w in sorted(turned, key=lambda w: -w.box[3])] == ["Packet", "delivery", "ratio"]
    assert len({w.line for w in turned}) == 1 and all(w.box[3] - w.box[1] > w.box[2] - w.box[0] for w in turned)


def test_cache_reads_each_image_once_whatever_its_name(figure_engine, rendered, tmp_path):
    copy = tmp_path / "other-name.png"
    shutil.copy(rendered, copy)
    cache = OcrCache(figure_engine, tmp_path / "cache")
    first, second = cache.read(rendered), cache.read(copy)
    assert first == second and (cache.misses, cache.hits) == (1, 1)
    stored = json.loads(next((tmp_path / "cache").glob("*.json")).read_text())
    assert {"text", "box", "confidence", "line", "angle"} <= set(stored[0]), "boxes and confidences are kept"


def test_target_lines_leave_out_words_below_the_engine_confidence(figure_engine, rendered, tmp_path):
    cache = OcrCache(figure_engine, tmp_path / "cache")
    words = cache.read(rendered)
    assert cache.target_lines(rendered) == lines(words, figure_engine.target_confidence)
    assert lines(words, 101.0) == [], "a threshold above every confidence leaves nothing"


@pytest.mark.shared_data
def test_figure_engine_reads_the_real_arxiv_figures(figure_engine, shared_data_dir):
    """Issue #20's bar on the six hand-transcribed SciCap figures: recall ≥ 90%, junk ≤ 5%."""
    folder = shared_data_dir / "scicap_figures"
    truth = {k: v for k, v in json.loads((folder / "ocr_truth.json").read_text()).items() if not k.startswith("_")}
    total = WordScore(0, 0, 0)
    for name, printed in truth.items():
        score = score_words(printed, lines(figure_engine.read(folder / name), figure_engine.target_confidence))
        assert score.recall >= 0.75, (name, score)
        total += score
    assert total.recall >= 0.90 and total.junk <= 0.05, total


@pytest.mark.shared_data
def test_figure_engine_reads_the_hand_transcribed_vector_figures_of_the_papers(figure_engine, ocr_benchmark,
                                                                              shared_data_dir, tmp_path):
    """Issue #20's bar on the other kind of figure: the 64 one-page figure PDFs of the papers' LaTeX
    sources (matplotlib, MATLAB, pgfplots, R), rendered 400-900 px wide as `ocr_accuracy.py --set
    figures` does, against benchmarks/ocr_truth_figures.json: recall ≥ 90%, junk ≤ 5%."""
    figures = ocr_benchmark.figures_set(shared_data_dir / "papers", tmp_path)
    assert len(figures) == 64
    total = WordScore(0, 0, 0)
    for _, image, printed in figures:
        total += score_words(printed, lines(figure_engine.read(image), figure_engine.target_confidence))
    assert total.recall >= 0.90 and total.junk <= 0.05, total


@pytest.mark.shared_data
def test_figure_engine_reads_a_vector_figure_rendered_from_a_real_paper(figure_engine, shared_data_dir, tmp_path):
    """A figure it was not tuned on: an R/ggplot2 plot from a paper's sources, its text layer as the truth."""
    import pdfplumber
    import pypdfium2

    from scitune.sources.ocr.text_layer import text_layer_words

    pdf = shared_data_dir / "papers" / "srds2022-epoch-commit" / "src" / "paper" / "figures" / "fig-6b.pdf"
    with pdfplumber.open(pdf) as document:
        printed = text_layer_words(document.pages[0])
    document = pypdfium2.PdfDocument(pdf)
    document[0].render(scale=600 / document[0].get_width()).to_pil().save(tmp_path / "fig.png")
    document.close()
    score = score_words(" ".join(w.text for w in printed),
                        lines(figure_engine.read(tmp_path / "fig.png"), figure_engine.target_confidence))
    assert score.recall >= 0.9 and score.junk <= 0.1, score


@pytest.mark.shared_data
def test_figure_engine_reads_the_shared_axis_and_negative_ticks_of_a_multi_panel_figure(figure_engine, shared_data_dir,
                                                                                      tmp_path):
    """Eight scatter panels (Kepler paper, Figure 7): the markers outnumber the letters, the bottom
    row's tick labels "-1", "0" are missed by the detector, and its boxes start after the minus
    signs of "-0.5", "-0.25". Words as the hand truth (benchmarks/ocr_truth_figures.json) has them."""
    import pypdfium2

    pdf = shared_data_dir / "papers" / "kepler-smear-campaign" / "src" / "paper" / "Pope_Fig7_v1.pdf"
    document = pypdfium2.PdfDocument(pdf)
    document[0].render(scale=800 / document[0].get_width()).to_pil().convert("RGB").save(tmp_path / "fig.png")
    document.close()
    read = " ".join(lines(figure_engine.read(tmp_path / "fig.png"), figure_engine.target_confidence)).split()
    assert read.count("-1") == 2 and read.count("[Fe/H]") == 2, read
    assert read.count("-0.25") >= 2 and "-0.5" in read and "-0.2" in read, read
    assert "0.5" in read and "[Mg/Fe]" in read


@pytest.mark.shared_data
def test_lines_with_greek_are_read_again_by_a_recogniser_that_knows_it(figure_engine, shared_data_dir, tmp_path):
    """A CMB paper's figure with a "ΔT = 1 μK − arcmin" annotation: PP-OCRv4's charset has no Δ and
    writes a lookalike; the line is read again by PP-OCRv6 (installed by make, like PP-OCRv4),
    whose reading is kept."""
    import pypdfium2

    from scitune.sources.ocr.figure import FigureOcr, FigureOcrSettings

    pdf = shared_data_dir / "papers" / "cmb-r-likelihood" / "src" / "paper" / "f4a.pdf"
    document = pypdfium2.PdfDocument(pdf)
    # The width the OCR benchmark's pdf and figures sets render it at.
    document[0].render(scale=587 / document[0].get_width()).to_pil().convert("RGB").save(tmp_path / "fig.png")
    document.close()
    alone = FigureOcr(FigureOcrSettings(reread=""))
    assert alone.settings() != figure_engine.settings(), "the second recogniser is part of the cache key"
    read = " ".join(lines(figure_engine.read(tmp_path / "fig.png"), figure_engine.target_confidence)).split()
    without = " ".join(lines(alone.read(tmp_path / "fig.png"), alone.target_confidence)).split()
    assert "ΔT" in read and "arcmin" in read, read
    assert "ΔT" not in without and "arcmin" in without, without
    assert alone.reread_recogniser is None


@needs_tesseract
@pytest.mark.shared_data
def test_tesseract_confirms_what_the_figure_engine_was_unsure_of(shared_data_dir):
    """With the figure engine that reads unsure lines once (the default reads them again and leaves
    Tesseract nothing to confirm on these six figures)."""
    from scitune.sources.ocr.agreement import FigureWithTesseract
    from scitune.sources.ocr.figure import FigureOcrSettings

    folder = shared_data_dir / "scicap_figures"
    truth = {k: v for k, v in json.loads((folder / "ocr_truth.json").read_text()).items() if not k.startswith("_")}
    both = FigureWithTesseract(FigureOcrSettings(reread_below=0.0))
    figure_engine = both.figure
    alone, agreed = WordScore(0, 0, 0), WordScore(0, 0, 0)
    for name, printed in truth.items():
        words = both.read(folder / name)
        assert [w.text for w in words] == [w.text for w in figure_engine.read(folder / name)], "same words, surer"
        alone += score_words(printed, lines(figure_engine.read(folder / name), figure_engine.target_confidence))
        agreed += score_words(printed, lines(words, both.target_confidence))
    assert agreed.recall > alone.recall and agreed.junk <= 0.05


@needs_tesseract
@pytest.mark.shared_data
def test_tesseract_reads_a_real_arxiv_figure(shared_data_dir):
    words = make_engine("tesseract").read(shared_data_dir / "scicap_figures" / "1003.2724v1-Figure12-1.png")
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
    cfg = FigureCurationConfig(dedupe=False, test_fraction=0.0)  # the default engine
    tokenizer = AutoTokenizer.from_pretrained(embedded_lm_folder())
    result = FigureCuration(cfg, tmp_path / "out", tmp_path, tokenizer).run(records)
    kept = {r.id: r for r in read_jsonl(tmp_path / "out" / "records_train.jsonl", FigureRecord)}
    assert "Pressure" in " ".join(kept["a"].ocr) and kept["b"].ocr == ["given"]
    assert kept["a"].ocr_from == "engine:figure" and kept["b"].ocr_from is None
    # The quality report says which path each record's text took.
    assert result["ocr"]["engine:figure"] == 1 and result["ocr"]["carried:corpus"] == 1


def test_cache_keys_the_context_a_figure_was_read_with(figure_engine, rendered, tmp_path):
    cache = OcrCache(figure_engine, tmp_path / "cache")
    cache.read(rendered)
    cache.read(rendered, "Temperature and pressure of the sample.")
    cache.read(rendered, "Temperature and pressure of the sample.")
    assert (cache.misses, cache.hits) == (2, 1)


@pytest.mark.shared_data
def test_text_written_about_a_real_figure_corrects_its_unsure_words(figure_engine, shared_data_dir):
    """The legend "AODV under attack" is 7 px high: PP-OCRv4 alone reads "D-AODVunder", "sttack";
    the caption's words correct it. (The default engine reads the unsure line again with PP-OCRv6,
    which gets "attack" right by itself.)"""
    from scitune.sources.ocr.figure import FigureOcr, FigureOcrSettings
    from scitune.sources.ocr.lexicon import Lexicon

    path = shared_data_dir / "scicap_figures" / "1104.4544v1-Figure3-1.png"
    once = FigureOcr(FigureOcrSettings(reread_below=0.0))
    assert "attack" not in " ".join(lines(once.read(path))).split()
    helped = [w.text for w in once.read(path, Lexicon.from_text("PDR of normal AODV and of AODV under attack."))]
    assert {"attack", "under"} <= set(helped) and helped.count("AODV") == 2
    assert "attack" in " ".join(lines(figure_engine.read(path), figure_engine.target_confidence)).split()


@pytest.mark.shared_data
def test_fused_models_read_a_real_figure_as_the_shipped_ones_do(figure_engine, shared_data_dir):
    """Issue #20's time bar rests on fuse.py: the shipped models with their affine blocks and
    hard-swish folded away give the same words and boxes. (Their speed is measured by
    `benchmarks/ocr_accuracy.py --ablations`: 'models as shipped' beside the fused engine.)"""
    pytest.importorskip("onnx", reason="the fused models need the onnx package (pip install onnx)")
    from scitune.sources.ocr.figure import FigureOcr
    from scitune.sources.ocr.rapid import DETECTION_MODEL, onnx_session, recogniser_file

    shipped = FigureOcr()
    shipped.detector.session = onnx_session(DETECTION_MODEL, fused=False)
    shipped.recogniser.session = onnx_session(recogniser_file(shipped.config.recogniser), fused=False)
    shipped.reread_recogniser.session = onnx_session(recogniser_file(shipped.config.reread), fused=False)
    path = shared_data_dir / "scicap_figures" / "1008.1628v4-Figure11-1.png"
    fused_words, shipped_words = figure_engine.read(path), shipped.read(path)
    assert len(fused_words) >= 20
    assert [(w.text, w.box) for w in fused_words] == [(w.text, w.box) for w in shipped_words]
