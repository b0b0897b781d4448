"""`curate latex` on a paper we wrote: figures, subfigures, captions, mentions, type evidence,
and every problem reported per figure; archives that try to escape are refused."""

import io
import tarfile

from PIL import Image

from scitune.curate.papers import curate_papers
from scitune.sources.demo_papers import write_latex_paper
from scitune.sources.latex import clean_text, latex_reader, read_latex_paper


def test_figures_captions_and_mentions_of_a_paper(tmp_path):
    truth = write_latex_paper(tmp_path / "paper")
    records, rejected = read_latex_paper(tmp_path / "paper", tmp_path / "out")
    found = {r.source.figure_id: r for r in records}
    assert set(found) == set(truth)
    for figure_id, (caption, mentions) in truth.items():
        assert found[figure_id].caption == caption
        assert len(found[figure_id].mentions) == mentions, (figure_id, found[figure_id].mentions)
        with Image.open(tmp_path / "out" / found[figure_id].image) as image:
            assert min(image.size) >= 40
    loss = found["Figure1"]
    assert "As Figure 1 shows, SciNet converges within ten epochs." in loss.mentions
    assert any("Introduction" in p or "preview" in p for p in loss.paragraphs), "cited from the \\input file too"
    assert "[smith2020, lee2021]" in " ".join(loss.paragraphs)
    assert loss.figure_type is None, "an included image is no evidence of its type"
    reasons = {r.id.split("-", 1)[1]: r.reason for r in rejected}
    assert "drawn in LaTeX (table)" in reasons["Table1"]
    assert "'missing_file' not found" in reasons["Figure4"]
    assert "drawn in LaTeX (bar chart)" in reasons["Figure5"]


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
    summary = curate_papers([tmp_path / "2301.00001.tar.gz", tmp_path / "evil.tar.gz", tmp_path / "broken.tar.gz"],
                            out, latex_reader, workers=2)
    assert summary["papers"] == 3 and summary["figures"] == 4
    lines = (out / "rejected.jsonl").read_text()
    assert "archive member refused" in lines and "broken" in lines
    assert not (tmp_path.parent / "escaped.tex").exists() and not (out.parent / "escaped.tex").exists()
    assert '"paper_id": "2301.00001"' in (out / "figures.jsonl").read_text()
