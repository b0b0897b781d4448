"""`curate pdf` and `curate latex` on real papers (../shared/data/papers): whole captions with
ligatures and hyphenation repaired, side-by-side captions kept apart, review line numbers left out,
every printed figure found from the source, drawn ones cropped from the compiled paper."""

import json

import pytest
from PIL import Image

from scitune.sources.latex import read_latex_paper
from scitune.sources.paper_text import caption_key, numbers_cited, strip_caption_label
from scitune.sources.pdf import read_pdf_paper
from scitune.sources.tex import tex_available

pytestmark = pytest.mark.shared_data


def _paper(shared_data_dir, name):
    folder = shared_data_dir / "papers" / name
    if not folder.is_dir():
        pytest.skip(f"{folder} not in the shared data")
    return folder, json.loads((folder / "truth.json").read_text())


def test_pdf_captions_are_whole_with_ligatures_and_hyphens_repaired(shared_data_dir, tmp_path):
    folder, truth = _paper(shared_data_dir, "avo-simulators")
    records, rejected, pages = read_pdf_paper(folder / "src" / truth["pdf"], tmp_path)
    assert pages == 8 and not rejected
    captions = {r.source.figure_id: r.caption for r in records}
    assert set(captions) == {"Figure1", "Figure2", "Figure3"}
    assert captions["Figure2"].startswith("FIG. 2. Multidimensional continuous data. (Left) Density")
    assert "for a proposal distribution initialized" in captions["Figure2"], "hyphen at a line end joined"
    assert "(cid:" not in " ".join(captions.values())
    for figure, source in zip(sorted(records, key=lambda r: r.id), sorted(truth["figures"], key=lambda f: f["label"])):
        assert caption_key(captions[figure.source.figure_id].split(". ", 2)[-1])[:60] != ""
    with Image.open(tmp_path / records[0].image) as image:
        assert min(image.size) >= 200, "the whole plot, not a sliver"


def test_side_by_side_captions_and_line_numbers(shared_data_dir, tmp_path):
    folder, truth = _paper(shared_data_dir, "learning-to-pivot")
    records, _, _ = read_pdf_paper(folder / "src" / truth["pdf"], tmp_path / "l2p")
    captions = {r.source.figure_id: r.caption for r in records}
    assert captions["Figure3"].startswith("Figure 3: Toy example. Training curves")
    assert "Figure 4" not in captions["Figure3"] and captions["Figure4"].startswith("Figure 4: Physics example.")
    folder, truth = _paper(shared_data_dir, "fusion-moves-cvpr15")
    records, _, _ = read_pdf_paper(folder / "src" / truth["pdf"], tmp_path / "cvpr")
    assert len(records) == 10, "9 figures and 1 table printed"
    assert all(not any(word.isdigit() and len(word) == 3 for word in r.caption.split()) for r in records), \
        "the review copy's line numbers stay out of captions"


def test_latex_finds_every_printed_figure_of_a_paper_with_inputs_and_two_captions_per_float(shared_data_dir, tmp_path):
    folder, truth = _paper(shared_data_dir, "srds2022-epoch-commit")
    records, rejected = read_latex_paper(folder / "src", tmp_path, main=truth["main_tex"], compile=False)
    numbers = {r.source.figure_id.rstrip("abc") for r in records}
    assert {"Figure3", "Figure4", "Figure5", "Figure6", "Figure8", "Figure9", "Figure10"} <= numbers
    assert "Fig. 4" not in next(r.caption for r in records if r.source.figure_id == "Figure5")
    # Not compiled: the TikZ figures (in \input files) and the table come from the PDF beside the source,
    # each matched there by its caption.
    assert {"Figure1", "Figure2", "TableI", "Figure7"} <= numbers
    assert not [r for r in rejected if r.kind == "drawn_in_latex"]
    ebc = next(r for r in records if r.source.figure_id == "Figure3")
    assert any("Figure 3" in m for m in ebc.mentions), "\\Cref prints the figure's name"


@pytest.mark.skipif(not tex_available(), reason="needs a TeX engine (latexmk + texlive, see .ci/run)")
def test_latex_crops_drawn_figures_from_the_compiled_paper(shared_data_dir, tmp_path):
    folder, truth = _paper(shared_data_dir, "srds2022-epoch-commit")
    records, rejected = read_latex_paper(folder / "src", tmp_path, main=truth["main_tex"])
    found = {r.source.figure_id: r for r in records}
    assert {"Figure1", "Figure2", "TableI", "Figure7"} <= set(found)
    assert not [r for r in rejected if r.kind == "drawn_in_latex"]
    assert strip_caption_label(found["TableI"].caption) == "Parameters of the analytical models and simulation."
    with Image.open(tmp_path / found["Figure1"].image) as image:
        assert min(image.size) >= 100


def test_mention_pattern_reads_lists_ranges_and_panels():
    assert numbers_cited("as in Figs. 2-4 and S1, and Figure 6(b)", "Figure") == {"2", "3", "4", "S1", "6"}
    assert numbers_cited("FIG. 3 shows; Table II lists", "Figure") == {"3"}
    assert numbers_cited("Table II lists", "Table") == set(), "Roman table numbers are matched by the PDF reader"
