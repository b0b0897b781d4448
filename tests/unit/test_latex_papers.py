"""`curate latex` on a paper we wrote: figures, subfigures, captions, mentions, type evidence, TeX's
file resolution, and every problem reported per figure; archives that try to escape are refused."""

import io
import tarfile

import pytest
from PIL import Image

from scitune.curate.papers import curate_papers
from scitune.sources.demo_papers import write_latex_paper
from scitune.sources.latex import clean_text, latex_reader, read_latex_paper
from scitune.sources.tex import tex_available


def test_figures_captions_and_mentions_of_a_paper(tmp_path):
    truth = write_latex_paper(tmp_path / "paper")
    records, rejected = read_latex_paper(tmp_path / "paper", tmp_path / "out", compile=False)
    found = {r.source.figure_id: r for r in records}
    assert set(found) == set(truth)
    for figure_id, (caption, mentions) in truth.items():
        assert found[figure_id].caption == caption
        assert len(found[figure_id].mentions) == mentions, (figure_id, found[figure_id].mentions)
        with Image.open(tmp_path / "out" / found[figure_id].image) as image:
            assert min(image.size) >= 40
    loss = found["Figure1"]
    assert "As Figure 1 shows, SciNet converges within ten epochs." in loss.mentions
    assert any("preview" in p for p in loss.paragraphs), "cited from the \\input file too"
    assert "[smith2020, lee2021]" in " ".join(loss.paragraphs)
    assert loss.figure_type is None, "an included image is no evidence of its type"
    kinds = {r.id.split("-", 1)[1]: (r.kind, r.reason) for r in rejected}
    assert kinds["Table1"][0] == "drawn_in_latex" and "tabular" in kinds["Table1"][1]
    assert kinds["Figure4"][0] == "missing_graphics" and "missing_file" in kinds["Figure4"][1]
    assert kinds["Figure5"][0] == "drawn_in_latex", "without TeX or a PDF a pgfplots figure has no picture"


def test_dpi_sets_the_resolution_of_rendered_pdf_figures(tmp_path):
    write_latex_paper(tmp_path / "paper")
    sizes = {}
    for dpi in (72, 144):
        records, _ = read_latex_paper(tmp_path / "paper", tmp_path / f"out{dpi}", dpi=dpi, compile=False)
        panel = next(r for r in records if r.source.figure_id == "Figure2a")  # a PDF graphic
        with Image.open(tmp_path / f"out{dpi}" / panel.image) as image:
            sizes[dpi] = image.size
    assert sizes[144][0] == pytest.approx(2 * sizes[72][0], abs=2)


def test_inputs_resolve_like_tex_and_a_missing_one_costs_only_its_figure(tmp_path):
    paper = tmp_path / "paper"
    (paper / "sections").mkdir(parents=True)
    (paper / "figs").mkdir()
    Image.new("RGB", (80, 60), (200, 30, 30)).save(paper / "figs" / "a.png")
    (paper / "main.tex").write_text(
        "\\documentclass{article}\\usepackage{graphicx}\\begin{document}\n"
        "\\input{sections/one}\n\\input sections/gone\n\\end{document}\n")
    # Nested \input names its file relative to the main file (TeX's working directory), not to sections/.
    (paper / "sections" / "one.tex").write_text("\\input{sections/two.tex}\n")
    (paper / "sections" / "two.tex").write_text(
        "See Fig.~\\ref{fig:a}.\n\n\\begin{figure}\\includegraphics{figs/a}\\caption{Red square.}\\label{fig:a}"
        "\\end{figure}\n")
    records, rejected = read_latex_paper(paper, tmp_path / "out", compile=False)
    assert [r.caption for r in records] == ["Figure 1: Red square."]
    assert records[0].mentions == ["See Fig. 1."]
    assert [(r.kind, "sections/gone" in r.reason) for r in rejected] == [("missing_input", True)]


@pytest.mark.skipif(not tex_available(), reason="needs a TeX engine (latexmk + texlive, see .ci/run)")
def test_figures_drawn_by_tex_come_from_the_compiled_paper(tmp_path):
    write_latex_paper(tmp_path / "paper")
    records, rejected = read_latex_paper(tmp_path / "paper", tmp_path / "out")
    found = {r.source.figure_id: r for r in records}
    assert found["Table1"].caption == "Table 1: Results per data set." and found["Table1"].figure_type == "table"
    assert found["Figure5"].figure_type == "bar chart"
    for figure_id in ("Table1", "Figure5"):
        with Image.open(tmp_path / "out" / found[figure_id].image) as image:
            assert min(image.size) >= 20 and image.getextrema() != ((255, 255),) * 3
    assert {r.kind for r in rejected} == {"missing_graphics"}


def test_clean_text_keeps_math_and_makes_refs_readable():
    labels = {"fig:a": "Figure 2"}
    text = r"See Fig.~\ref{fig:a} and \cref{fig:a}: $x^2 + \alpha$ grows \emph{fast} \cite{k1}.\footnote{aside}"
    assert clean_text(text, labels, {}) == r"See Fig. 2 and Figure 2: $x^2 + \alpha$ grows fast [k1]."


def test_archive_batch_and_escaping_members(tmp_path):
    write_latex_paper(tmp_path / "paper")
    with tarfile.open(tmp_path / "2301.00001.tar.gz", "w:gz") as archive:
        archive.add(tmp_path / "paper", arcname=".")
    with tarfile.open(tmp_path / "evil.tar.gz", "w:gz") as archive:
        data = b"\\documentclass{article}"
        member = tarfile.TarInfo("../../escaped.tex")
        member.size = len(data)
        archive.addfile(member, io.BytesIO(data))
    (tmp_path / "broken.tar.gz").write_bytes(b"not an archive at all")
    out = tmp_path / "out"
    from functools import partial

    summary = curate_papers([tmp_path / "2301.00001.tar.gz", tmp_path / "evil.tar.gz", tmp_path / "broken.tar.gz"],
                            out, partial(latex_reader, compile=False), workers=2)
    assert summary["papers"] == 3 and summary["figures"] == 4
    lines = (out / "rejected.jsonl").read_text()
    assert "archive member refused" in lines and "broken" in lines
    assert not (tmp_path.parent / "escaped.tex").exists() and not (out.parent / "escaped.tex").exists()
    assert '"paper_id": "2301.00001"' in (out / "figures.jsonl").read_text()


def test_labels_of_included_files_come_from_their_own_aux(tmp_path):
    from scitune.sources.tex import parse_aux

    (tmp_path / "ms.aux").write_text("\\newlabel{fig:a}{{1}{2}}\n\\@input{supplemental.aux}\n")
    (tmp_path / "supplemental.aux").write_text("\\newlabel{sec:setup}{{B.1}{30}{Setup}{subsection.B.1}{}}\n"
                                               "\\@input{ms.aux}\n")
    assert parse_aux(tmp_path / "ms.aux") == {"fig:a": ("1", 2), "sec:setup": ("B.1", 30)}
