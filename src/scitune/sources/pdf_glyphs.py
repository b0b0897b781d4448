"""What a character on a PDF page prints, where pdfium's Unicode for it is wrong or split in two.

Three cases seen in real papers' PDFs, each fixed from the page itself:
- TeX's math fonts (Computer Modern `CMMI`/`CMSY` and their txfonts twins) often come without a
  Unicode map for a few glyphs, and pdfium then returns the raw font code: ℓ reads '`', ϵ reads
  '\\x0f', the prime reads '0' (so y′ reads "y0"), ⊙ reads '\\x0c'. Such a code is read through
  the font's TeX encoding (OML for math italic, OMS for math symbols), but only where a mapped font
  could never give that character (a real map never yields '0' from CMSY), so a font with a good
  map is left alone.
- An accent set as a glyph of its own above a letter (`\\hat{y}`, `\\"u` in OT1 fonts) reads
  "yˆ" or "¨u", or lands on a line of its own; it is joined to the letter under it ("ŷ", "ü").
- U+2206 INCREMENT, which the Adobe glyph list also gives for the glyph name "Delta", is the Greek
  capital Δ in a paper.
- Matplotlib's mathtext sets math in the BaKoMa TrueType Computer Modern fonts (`Cmr10`, `Cmmi10`,
  `Cmsy10`, `Cmex10`: capitalised names, unlike the AMS Type 1 `CMR10`), which move TeX's codes
  0x00-0x20 up to 0xA1-0xC3 (0x7F to 0xC4). Without a Unicode map pdfium returns those as Latin-1:
  "ΔT = 10 μK" reads "¢T = 10 ¹K", σ reads '¾', φ 'Á', λ '¸', − '¡'. They are moved back and read
  through the font's TeX encoding (OT1, OML, OMS, or the big delimiters of CMEX).
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_left, bisect_right
from functools import lru_cache

# TeX's OML encoding (math italic) from 0x00: Γ…Ω, then α…φ, the harpoons.
_OML = "ΓΔΘΛΞΠΣΥΦΨΩαβγδϵζηθικλμνξπρστυϕχψωεϑϖϱςφ↼↽⇀⇁"
OML = {**{i: char for i, char in enumerate(_OML)}, 0x3A: ".", 0x3B: ",", 0x3D: "/", 0x3F: "⋆", 0x60: "ℓ",
       0x7B: "ı", 0x7C: "ȷ", 0x7D: "℘"}
"""Raw OML codes a mapped math-italic font never returns, with what they print (its letters, digits,
< and > are ASCII either way; its . , / sit where ASCII has : ; =)."""

# TeX's OMS encoding (math symbols) from 0x00 to 0x40, and from 0x5B to 0x7F.
_OMS_LOW = "−·×∗÷⋄±∓⊕⊖⊗⊘⊙◯∘∙≍≡⊆⊇≤≥⪯⪰∼≈⊂⊃≪≫≺≻←→↑↓↔↗↘≃⇐⇒⇑⇓⇔↖↙∝′∞∈∋△▽̸↦∀∃¬∅ℜℑ⊤⊥ℵ"
_OMS_HIGH = "∪∩⊎∧∨⊢⊣⌊⌋⌈⌉{}⟨⟩|‖↕⇕\\≀√⨿∇∫⊔⊓⊑⊒§†‡¶♣♢♡♠"
OMS = {**{i: char for i, char in enumerate(_OMS_LOW)}, **{0x5B + i: char for i, char in enumerate(_OMS_HIGH)}}
# A mapped symbol font returns '{', '}', '|' and '\' for its braces, bar and backslash (and A-Z for
# its calligraphic capitals): those codes are ambiguous and kept as they are.
for _code in (0x5C, 0x7B, 0x7C, 0x7D):
    OMS.pop(_code)

# TeX's OT1 encoding (text fonts) from 0x00 to 0x20: Greek capitals, ligatures, dotless i and j,
# accents, the foreign letters.
_OT1 = [*"ΓΔΘΛΞΠΣΥΦΨΩ", "ff", "fi", "fl", "ffi", "ffl", *"ıȷ`´ˇ˘¯˚¸ßæœøÆŒØ", "̸"]
# CMEX from 0x00 to 0x20: delimiters in growing sizes.
_CMEX = "()[]⌊⌋⌈⌉{}⟨⟩|‖/\\()()[]⌊⌋⌈⌉{}⟨⟩/\\("
_BAKOMA = {"CMR": _OT1, "CMB": _OT1, "CMTI": _OT1, "CMSL": _OT1, "CMSS": _OT1, "CMTT": _OT1,
           "CMMI": _OML, "CMSY": _OMS_LOW, "CMEX": _CMEX}

_MATH_ITALIC = ("CMMI", "CMBMI", "TXMI", "RTXMI", "PXMI", "RPXMI")
_MATH_SYMBOLS = ("CMSY", "CMBSY", "TXSY", "RTXSY", "PXSY", "RPXSY")


@lru_cache(maxsize=512)
def font_table(font: str) -> dict[int, str] | None:
    """The raw-code table for FONT's TeX encoding (its name without a subset prefix), or None."""
    name = font.rsplit("+", 1)[-1].upper()
    if name.startswith(_MATH_ITALIC):
        return OML
    if name.startswith(_MATH_SYMBOLS):
        return OMS
    return None


def bakoma_char(font: str, code: int) -> str | None:
    """What CODE (0xA1-0xC4) prints in FONT when FONT is one of the BaKoMa Computer Modern fonts
    matplotlib embeds (named like `Cmmi10`), or None."""
    name = font.rsplit("+", 1)[-1]
    if not name[:1].isupper() or not name[1:3].islower():
        return None  # 'CMMI10' is the AMS Type 1 font, whose Latin-1 codes are what they say
    table = next((t for prefix, t in _BAKOMA.items() if name.upper().startswith(prefix)), None)
    if table is None:
        return None
    position = code - 0xA1 if code <= 0xAA else 0x7F if code == 0xC4 else code - 0xA3
    return table[position] if 0 <= position < len(table) else None


def may_be_shifted(code: int) -> bool:
    """Whether CODE could be a BaKoMa font's moved TeX code (`bakoma_char`)."""
    return 0xA1 <= code <= 0xC4 and code not in (0xAB, 0xAC)


def may_be_raw(code: int) -> bool:
    """Whether CODE could be a raw OML/OMS code (so the font is worth asking for): not a capital."""
    return code < 0x80 and not (0x41 <= code <= 0x5A) and code != 0x20


_ACCENTS = {"\u02c6": "\u0302", "^": "\u0302", "\u02dc": "\u0303", "\u00af": "\u0304",
            "\u02c9": "\u0304", "\u02d8": "\u0306", "\u02d9": "\u0307", "\u00a8": "\u0308", "\u02da": "\u030a",
            "\u00b4": "\u0301", "\u02dd": "\u030b", "\u02c7": "\u030c", "\u00b8": "\u0327", "\u02db": "\u0328"}
"""Spacing accents and the combining marks they put on the letter they are set over (or under). '^'
is OT1's circumflex accent as pdfium reads it (a caret beside a letter is no accent: see `_base_of`)."""
_BELOW = {"\u0327", "\u0328"}


def join_accents(chars: list) -> list:
    """CHARS (pdf_layout.Char) with every accent glyph that sits over (cedilla, ogonek: under) a letter
    folded into that letter; an accent with no letter at its place stays as it is."""
    if not any(char.text in _ACCENTS for char in chars):
        return chars
    letters = sorted((c for c in chars if c.text.isalpha() and c.text not in _ACCENTS), key=lambda c: c.x0)
    starts = [letter.x0 for letter in letters]
    kept = []
    for char in chars:
        mark = _ACCENTS.get(char.text)
        base = None
        if mark:
            # Letters are narrower than two font sizes: only those starting that close can lie under it.
            middle = (char.x0 + char.x1) / 2
            near = letters[bisect_left(starts, middle - 2 * char.size):bisect_right(starts, middle + char.size)]
            base = _base_of(char, near, mark in _BELOW)
        if base is None:
            kept.append(char)
            continue
        base.text = unicodedata.normalize("NFC", base.text + mark)
    return kept


def _base_of(accent, letters: list, below: bool):
    """The letter ACCENT is set on: overlapping it across, just under it (over it, when BELOW)."""
    middle = (accent.x0 + accent.x1) / 2
    best, best_distance = None, None
    for letter in letters:
        size = max(letter.size, accent.size)
        if not letter.x0 - 0.15 * size <= middle <= letter.x1 + 0.15 * size:
            continue
        gap = accent.top - letter.bottom if below else letter.top - accent.bottom
        if not -0.35 * size <= gap <= 0.35 * size:
            continue
        distance = abs(middle - (letter.x0 + letter.x1) / 2) + abs(gap)
        if best_distance is None or distance < best_distance:
            best, best_distance = letter, distance
    return best
