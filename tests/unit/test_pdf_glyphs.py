"""What a PDF character prints: TeX math-font codes read without a Unicode map, accents set as glyphs
of their own, review line numbers set close to their text; and the caption key and mention rules
that the PDF and LaTeX readers share."""

import pytest

from scitune.sources.paper_text import caption_key, numbers_cited
from scitune.sources.pdf_glyphs import OMS, font_table, join_accents
from scitune.sources.pdf_layout import Char, Line, ruler_ranges


def _char(text, x0, top, size=10.0, width=5.0, height=7.0):
    return Char(text, x0, top, x0 + width, top + height, size, top + height)


def test_raw_codes_of_tex_math_fonts_are_read_through_their_encoding():
    assert font_table("ABCDEF+CMMI10")[0x60] == "ℓ" and font_table("CMMI7")[0x0F] == "ϵ"
    assert font_table("rtxmi")[0x3F] == "⋆"
    assert font_table("CMSY7")[0x30] == "′", "y′ printed with CMSY reads 'y0' without a map"
    assert font_table("CMR10") is None and font_table("NimbusRomNo9L-Regu") is None
    # A symbol font with a map returns '{', '|', '}' and '\' for its own braces, bar and backslash.
    assert not {0x5C, 0x7B, 0x7C, 0x7D} & set(OMS)


def test_an_accent_set_over_a_letter_joins_it():
    y, hat, dot = _char("y", 100, 50), _char("ˆ", 100.5, 47, height=1.5), _char(".", 106, 55, height=1)
    lone = _char("¨", 200, 10, height=1.5)  # no letter under it: kept as printed
    chars = join_accents([y, hat, dot, lone])
    assert [c.text for c in chars] == ["ŷ", ".", "¨"]
    assert [c.text for c in join_accents([_char("¸", 10, 57.5, height=2), _char("c", 10, 50)])] == ["ç"]


def test_line_numbers_set_close_to_their_text_are_found():
    lines = []
    for i in range(12):
        number = [_char(d, 88 + 3.3 * k, 100 + 11 * i, size=6, width=3.3) for k, d in enumerate(str(282 + i))]
        words = [_char(c, 108 + 5 * k, 100 + 11 * i) for k, c in enumerate("text goes on")]
        lines.append(Line(number + words).finish())
    assert ruler_ranges(lines) == [pytest.approx((88.0, 97.9))]
    table = [Line([_char(d, 88 + 5 * k, 100 + 11 * i) for k, d in enumerate(str(value))]
                  + [_char("x", 130, 100 + 11 * i)]).finish() for i, value in enumerate(range(10, 130, 10))]
    assert ruler_ranges(table) == [], "a column of numbers that does not count lines is kept"


def test_caption_key_keeps_a_printed_percent_sign():
    assert caption_key("duty cycles of 15%) approximates it", latex=True) == "dutycyclesof15approximatesit"
    assert caption_key(r"($\%$) of 10\% runs", latex=True) == "of10runs"


def test_roman_table_numbers_are_cited():
    assert numbers_cited("see Table II and Tables III-V; TABLE IIII", "Table") == {"II", "III", "IV", "V"}
    assert numbers_cited("Tables 1-3 and Table S1", "Table") == {"1", "2", "3", "S1"}
    assert numbers_cited("Figure I shows", "Figure") == set(), "figures are numbered in digits"
