"""Sentence boundaries on real scientific text: abbreviations such as "Eq." and "et al." are no ends."""

import re

import pytest

from scitune.sources.sentences import split_sentences


def test_abbreviations_and_initials_do_not_end_sentences():
    text = ("As derived in Eq. (3), the bias is small. Smith et al. (2020) saw it too, cf. Fig. 2. "
            "J. Doe measured it, i.e. The test passed. Values rose 5%. 12 runs failed!")
    assert split_sentences(text) == [
        "As derived in Eq. (3), the bias is small.",
        "Smith et al. (2020) saw it too, cf. Fig. 2.",
        "J. Doe measured it, i.e. The test passed.",
        "Values rose 5%.",
        "12 runs failed!",
    ]


def test_no_text_is_lost():
    text = "One.  Two?\nThree (four). [Five] six."
    assert " ".join(split_sentences(text)) == "One. Two? Three (four). [Five] six."


@pytest.mark.shared_data
def test_real_paper_sentences_never_end_on_an_abbreviation(shared_data_dir):
    """Body text of a real paper (revtex, PRD) that cites equations as "Eq. (N)" and work as "et al."."""
    sources = sorted((shared_data_dir / "papers" / "cmb-r-likelihood" / "src").rglob("*.tex"))
    text = " ".join(p.read_text(errors="replace") for p in sources)
    text = re.sub(r"\\ref\{[^}]*\}", "3", text)  # what the LaTeX reader makes of references
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if "Eq. (" in p]
    assert paragraphs, "the paper cites equations as Eq. (N)"
    for paragraph in paragraphs:
        for sentence in split_sentences(" ".join(paragraph.split())):
            assert not re.search(r"\b(Eq|Eqs|al|Fig|Sec)\.$", sentence), sentence
