"""Citations as the paper prints them, from the bibliography BibTeX/biber made: natbib's author-year
and numeric forms with their notes, the .aux and .bbl the authors ship, and the style rules."""

import pytest

from scitune.sources.citations import (
    Citations,
    Entry,
    numeric_style,
    parse_aux,
    parse_bbl,
    read_citations,
)
from scitune.sources.latex_text import clean

ENTRIES = {"bensby": Entry("3", "2014", "Bensby et al.", "Bensby, Feltzing, & Oey"),
           "yee": Entry("7", "2018a", "Yee et al."), "guth": Entry("8", "1981", "Guth"),
           "linde": Entry("9", "1982", "Linde"), "mukh": Entry("10", "1981", "Mukhanov and Chibisov")}


def _clean(source: str, numeric: bool) -> str:
    return clean(source, {}, {}, Citations(ENTRIES, numeric))


def test_author_year_forms_with_natbib_notes():
    assert _clean("from \\citet{bensby}.", numeric=False) == "from Bensby et al. (2014)."
    assert _clean("activity \\citep{yee}.", numeric=False) == "activity (Yee et al., 2018a)."
    assert _clean("\\citet[open red squares]{bensby}", False) == "Bensby et al. (2014, open red squares)"
    assert _clean("\\citet[red,][]{bensby}", False) == "Bensby et al. (red, 2014)", "a pre-note goes before the year"
    assert _clean("\\citep[see][p. 3]{guth,linde}", False) == "(see Guth, 1981; Linde, 1982, p. 3)"
    assert _clean("\\citeauthor{mukh} in \\citeyear{mukh}", False) == "Mukhanov and Chibisov in 1981"
    assert _clean("\\citet*{bensby}", False) == "Bensby, Feltzing, & Oey (2014)"


def test_numeric_forms_compress_runs():
    assert _clean("shown \\cite{bensby}.", numeric=True) == "shown [3]."
    assert _clean("\\citep{guth,linde,mukh,bensby}", True) == "[3, 8\u201310]"
    assert _clean("\\citep[p. 2]{yee}", True) == "[7, p. 2]"


def test_a_key_missing_from_the_bibliography_stays_a_key():
    assert _clean("\\cite{bensby,nobody}", False) == "[bensby, nobody]"
    assert clean("\\cite{bensby}", {}, {}) == "[bensby]", "no bibliography known"


@pytest.mark.parametrize("preamble, numeric", [
    ("\\documentclass{article}\\usepackage[numbers]{natbib}", True),
    ("\\documentclass{article}\\usepackage{natbib}\\setcitestyle{numbers,square}", True),
    ("\\documentclass[aps,prd,reprint]{revtex4-1}\\usepackage{natbib}", True),
    ("\\documentclass[format=acmsmall]{acmart}", True),
    ("\\documentclass[format=acmsmall]{acmart}\\citestyle{acmauthoryear}", False),
    ("\\documentclass[modern]{aastex62}", False),
    ("\\documentclass{article}\\usepackage{natbib}", False),
])
def test_numbers_or_author_year(preamble, numeric):
    assert numeric_style(preamble, ENTRIES) is numeric


def test_plain_bibliography_is_numeric_and_numbered_in_order(tmp_path):
    (tmp_path / "p.bbl").write_text("\\begin{thebibliography}{1}\n\\bibitem{a} A. Author.\n"
                                    "\\bibitem[Knu14]{b} D. Knuth.\n\\bibitem{c}% comment\n C.\n")
    entries = parse_bbl(tmp_path / "p.bbl")
    assert [entries[k].number for k in "abc"] == ["1", "Knu14", "3"]
    assert numeric_style("\\documentclass{article}", entries)
    (tmp_path / "p.aux").write_text("\\relax\n\\bibcite{a}{12}\n")
    citations = read_citations("\\documentclass{article}", None, tmp_path / "p.tex")
    assert citations.entries["a"].number == "12" and citations.numeric, "the shipped .aux comes first"


def test_biblatex_bbl_is_numbered_in_its_sorted_order(tmp_path):
    (tmp_path / "p.bbl").write_text("\\refsection{0}\n\\datalist[entry]{none/global//global/global}\n"
                                    "\\entry{gorder}{inproceedings}{}\n\\endentry\n\\entry{snap}{misc}{}\n\\endentry\n")
    assert {k: e.number for k, e in parse_bbl(tmp_path / "p.bbl").items()} == {"gorder": "1", "snap": "2"}


def _shipped(shared_data_dir, name, path):
    file = shared_data_dir / "papers" / name / "src" / path
    if not file.is_file():
        pytest.skip(f"{file} not in the shared data")
    return file


@pytest.mark.shared_data
def test_bibliographies_the_authors_shipped(shared_data_dir):
    aastex = parse_bbl(_shipped(shared_data_dir, "wasp4b-accelerating", "paper/ms.bbl"))
    assert aastex["knutson_friends_2014"].authors == "Knutson et al." and aastex["knutson_friends_2014"].year == "2014"
    acm = parse_bbl(_shipped(shared_data_dir, "cscw-paper-lengths", "paper/paper.bbl"))
    assert (acm["correia2019effect"].authors, acm["correia2019effect"].year) == ("Correia et al.", "2019")
    assert len(acm) == 27
    revtex = parse_aux(_shipped(shared_data_dir, "cmb-r-likelihood", "paper/ms.aux"))
    assert revtex["Mukhanov1981"] == Entry("1", "1981", "Mukhanov and Chibisov", "")
    assert parse_bbl(_shipped(shared_data_dir, "cmb-r-likelihood", "paper/ms.bbl"))["Guth1981"].authors == "Guth"
