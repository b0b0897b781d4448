"""`curate pdf` and `curate latex` on real papers (../shared/data/papers): whole captions with
ligatures and hyphenation repaired, side-by-side captions kept apart, review line numbers left out,
every printed figure found from the source, drawn ones cropped from the compiled paper."""

import json
import shutil

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
    assert numbers_cited("Table II lists", "Table") == {"II"}, "revtex and IEEEtran number tables in Roman"


def _pdf_records(shared_data_dir, tmp_path, name):
    folder, truth = _paper(shared_data_dir, name)
    records, _, _ = read_pdf_paper(folder / "src" / truth["pdf"], tmp_path / name)
    return {r.source.figure_id: r for r in records}


def test_pdf_math_glyphs_read_as_printed(shared_data_dir, tmp_path):
    cmb = _pdf_records(shared_data_dir, tmp_path, "cmb-r-likelihood")
    assert "modes with ℓ2 ≥ 0" in cmb["Figure1"].caption, "ℓ from a math font without a Unicode map"
    assert "(ΔT = 1 µK-arcmin)" in cmb["Figure5"].caption, "Δ, not the increment sign"
    fusion = _pdf_records(shared_data_dir, tmp_path, "fusion-moves-cvpr15")
    assert "two edge labelings y′ and y′′ with" in fusion["Figure3"].caption
    assert "ŷ is defined as y′ + y′′" in fusion["Figure5"].caption, "the hat joins the letter under it"
    hypernet = _pdf_records(shared_data_dir, tmp_path, "hypernet-hypertraining")
    assert "hyperparameter λ̂, while random losses are for the best" in hypernet["Figure7"].caption


def test_pdf_captions_beside_text_and_labels_inside_running_text(shared_data_dir, tmp_path):
    hypernet = _pdf_records(shared_data_dir, tmp_path, "hypernet-hypertraining")
    # Wrapped figures: the caption shares its lines with the running text (and its line numbers) beside it.
    assert hypernet["Figure5"].caption.endswith("Bottom: Hyper-training is applied different layer configurations in "
                                                "the model.")
    assert hypernet["Figure6"].caption.endswith("tends to over-predict the true loss.")
    assert "Figure 5, bottom" not in hypernet["Figure5"].caption
    assert any("Figure 7, left, shows" in m for m in hypernet["Figure7"].mentions), "the paragraph above the " \
        "figure is running text, not part of its region"
    cmb = _pdf_records(shared_data_dir, tmp_path, "cmb-r-likelihood")
    # "… is shown in / Figure 2." and "… are given in / Table 2. Along with …" go on from the line above.
    assert cmb["Figure2"].caption.startswith("FIG. 2. The φ(x) reconstruction noises for Scenario N")
    assert any("Table I" in m for m in cmb["TableI"].mentions)
    wasp = _pdf_records(shared_data_dir, tmp_path, "wasp4b-accelerating")
    assert wasp["Table2"].caption == "Table 2. WASP-4b radial velocities."
    fusion = _pdf_records(shared_data_dir, tmp_path, "fusion-moves-cvpr15")
    assert any("is shown in Fig. 6" in m for m in fusion["Figure6"].mentions)
    # Two columns whose lines share baselines, the gutter's edge inside the right column's first letter.
    sensing = _pdf_records(shared_data_dir, tmp_path, "batteryless-intermittent-sensing")
    assert sensing["Figure7"].caption.endswith("see the Δt before and after the event.")


def test_tables_drawn_by_tex_are_found_in_the_papers_pdf(shared_data_dir, tmp_path):
    folder, truth = _paper(shared_data_dir, "rescience-gorder")
    # The PDF beside the source: Table 1's caption goes on in \footnotesize there (its list of sources),
    # which the PDF reader leaves out, so it is matched by its opening.
    records, _ = read_latex_paper(folder / "src", tmp_path / "latex", main=truth["main_tex"], compile=False)
    tables = {r.source.figure_id: r for r in records if r.figure_type == "table"}
    assert set(tables) == {"Table1", "Table2", "Table3"}
    assert "Stanford Network Analysis Project" in tables["Table1"].caption
    # The PDF reader: a table captioned underneath is cropped from above its caption, not from the
    # section heading below it.
    pdf = _pdf_records(shared_data_dir, tmp_path, "rescience-gorder")
    with Image.open(tmp_path / "rescience-gorder" / pdf["Table3"].image) as image:
        assert image.height >= 400, "both sub-tables, 300 pt at 150 dpi"


@pytest.mark.skipif(not tex_available(), reason="needs a TeX engine (latexmk + texlive, see .ci/run)")
def test_what_the_compiled_paper_lacks_comes_from_the_pdf_beside_the_source(shared_data_dir, tmp_path):
    folder, truth = _paper(shared_data_dir, "rescience-gorder")
    # Its tables are `\include`d: TeX stopped at the first one (its .aux could not be written under the
    # output folder) until that folder was made; where the compile still lacks them (biblatex missing
    # here, stubbed), they come from the PDF beside the source.
    records, rejected = read_latex_paper(folder / "src", tmp_path, main=truth["main_tex"])
    assert {"Table1", "Table2", "Table3"} <= {r.source.figure_id for r in records}
    assert not [r for r in rejected if r.kind == "drawn_in_latex"]


def _latex_and_pdf(shared_data_dir, tmp_path, name):
    folder, truth = _paper(shared_data_dir, name)
    latex, _ = read_latex_paper(folder / "src", tmp_path / "latex", main=truth["main_tex"])
    pdf, _, _ = read_pdf_paper(folder / "src" / truth["pdf"], tmp_path / "pdf")
    return ({r.source.figure_id: strip_caption_label(r.caption) for r in latex},
            {r.source.figure_id: strip_caption_label(r.caption) for r in pdf})


@pytest.mark.skipif(not tex_available(), reason="needs a TeX engine (latexmk + texlive, see .ci/run)")
def test_latex_captions_print_citations_and_references_as_the_paper_does(shared_data_dir, tmp_path):
    latex, pdf = _latex_and_pdf(shared_data_dir, tmp_path, "wasp4b-accelerating")
    # AASTeX with the authors' .bbl: natbib author-year, not BibTeX keys; the reviewer's \explain{} note
    # is not printed.
    assert "16 of 51 hot Jupiters from Knutson et al. (2014) have shown" in latex["Figure5"]
    assert "(Yee et al., 2018)" in latex["Figure5"] and "[" not in latex["Table5"]
    assert "Caption was modified" not in latex["Figure4"]
    for figure in ("Figure4", "Figure5", "Table5"):
        assert caption_key(latex[figure], latex=True) == caption_key(pdf[figure]), figure
    # IEEEtran with cleveref: \Cref{sec:…} prints 'Section V-A', named by the compile's .aux.
    latex, pdf = _latex_and_pdf(shared_data_dir, tmp_path / "srds", "srds2022-epoch-commit")
    assert latex["Figure8"].endswith("(as discussed in Section V-A).")
    assert caption_key(latex["Figure8"], latex=True) == caption_key(pdf["Figure8"])


@pytest.mark.skipif(not shutil.which("biber") or not tex_available(), reason="needs biber and biblatex (see .ci/run)")
def test_biblatex_citations_are_numbered_as_printed(shared_data_dir, tmp_path):
    latex, pdf = _latex_and_pdf(shared_data_dir, tmp_path, "rescience-gorder")
    assert "Comparing to Table 9 in [1] is possible" in latex["Table2"] and "[gorder]" not in latex["Table2"]
    for figure in ("Figure4", "Figure5", "Table2", "Table3"):
        assert caption_key(latex[figure], latex=True) == caption_key(pdf[figure]), figure


def test_figures_included_as_whole_pages_are_cropped_to_their_ink_without_the_running_head(shared_data_dir):
    import pypdfium2 as pdfium

    from scitune.sources.pdf import layout_paper

    folder, truth = _paper(shared_data_dir, "kepler-smear-campaign")
    document = pdfium.PdfDocument(str(folder / "src" / truth["pdf"]))
    try:
        layout = layout_paper(document, 200)
    finally:
        document.close()
    regions = {r.caption.figure_id: r for r in layout.regions}
    # Figures 9 and 11 are PDF pages whose bounds run off the page: before, only a sliver of tick
    # labels was found (22 pt tall); the plots are about 200 and 260 pt tall.
    assert regions["Figure9"].box[3] - regions["Figure9"].box[1] >= 180
    assert regions["Figure11"].box[3] - regions["Figure11"].box[1] >= 240
    for figure_id, region in regions.items():
        page = layout.pages[region.caption.page - 1]
        heads = [line for line in page.lines if id(line) in page.furniture]
        assert heads, f"page {page.number} has a running head"
        assert all(line.bottom <= region.box[1] or line.top >= region.box[3] for line in heads), figure_id


def _regions(shared_data_dir, name):
    import pypdfium2 as pdfium

    from scitune.sources.pdf import layout_paper

    folder, truth = _paper(shared_data_dir, name)
    document = pdfium.PdfDocument(str(folder / "src" / truth["pdf"]))
    try:
        layout = layout_paper(document, 200)
    finally:
        document.close()
    return layout, {r.caption.figure_id: r for r in layout.regions}


def test_figure_crops_hold_the_drawing_not_the_running_text_beside_it(shared_data_dir):
    layout, regions = _regions(shared_data_dir, "wasp4b-accelerating")
    # Figure 1 is a PDF whose bounds run off the page; Figure 4's drawing reaches 2 pt into its
    # caption. Both were cropped from the two columns of running text under the caption.
    for figure_id in ("Figure1", "Figure4"):
        region = regions[figure_id]
        assert region.box[3] <= region.caption.box[1], f"{figure_id} lies above its caption"
        assert region.box[3] - region.box[1] >= 200, figure_id
        page = layout.pages[region.caption.page - 1]
        inside = [line for line in page.lines if region.box[1] <= line.top and line.bottom <= region.box[3]
                  and region.box[0] <= line.x0 and line.x1 <= region.box[2]]
        prose = [line for line in inside if sum(w.isalpha() and w.islower() for w in line.text.split()) >= 6]
        assert not prose, (figure_id, prose[0].text)
    # A pgfplots figure in the right column whose paths claim to start in the left one.
    layout, regions = _regions(shared_data_dir, "fusion-moves-cvpr15")
    page = layout.pages[regions["Figure7"].caption.page - 1]
    assert regions["Figure7"].box[0] >= page.gutter[0]
