"""Text rules shared by the LaTeX and PDF paper readers: how a figure is named in running text, how
a caption is compared, and how citing sentences are found.

A paper prints "Figure 3", "Fig. 3", "FIG. 3", "Figs. 2 and 3", "Figures 4(a)-4(c)", "figure S1" or
"Table 2"; both readers find citing sentences with the same pattern, so a figure cited in the LaTeX
source is cited in the PDF text too. Captions are compared by a key that drops markup, math
delimiters, spacing and case (`caption_key`): "Generalized Hammerstein-Wiener (left)" printed and
`Generalized Hammerstein--Wiener (left)` in the source compare equal; a caption cut to its last
line, a ligature read as `(cid:30)` or words glued together do not.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

KINDS = ("Figure", "Table", "Algorithm")

_NAMES = {
    "Figure": r"(?:Figures?|Figs?\.?|FIGURES?|FIGS?\.?|figures?|figs?\.)",
    "Table": r"(?:Tables?|Tabs?\.|TABLES?|TABS?\.|tables?|tabs?\.)",
    "Algorithm": r"(?:Algorithms?|Algs?\.|ALGORITHMS?|algorithms?)",
}
_NUMBER = r"[A-Z]?\d+"
# One figure number with an optional panel letter: 3, 3a, 3(a), S1, A.2 is not a figure number.
_ONE = _NUMBER + r"(?:\s?\(?[a-z]\)?(?![a-z]))?"
_SEPARATOR = r"\s*(?:,|and|&|-|–|—|to)\s*"
_LIST = _ONE + r"(?:" + _SEPARATOR + _ONE + r")*"
# Tables are also numbered in Roman capitals (revtex, IEEEtran: 'TABLE II', cited as 'Table II').
_ROMAN = r"[IVXL]+(?![A-Za-z])"
_TABLE_LIST = r"(?:" + _ROMAN + r"(?:" + _SEPARATOR + _ROMAN + r")*|" + _LIST + r")"


def mention_pattern(kind: str) -> re.Pattern:
    """Matches 'Fig. 3', 'Figures 2 and 4(b)', 'Tab. 1', 'Tables I-III' …; group 'numbers' is the list."""
    numbers = _TABLE_LIST if kind == "Table" else _LIST
    return re.compile(r"(?<![A-Za-z])" + _NAMES[kind] + r"\s*~?\s*(?P<numbers>" + numbers + r")")


_PATTERNS = {kind: mention_pattern(kind) for kind in KINDS}


def numbers_cited(text: str, kind: str) -> set[str]:
    """The figure (or table) numbers TEXT names, ranges expanded: 'Figs. 2-4 and S1' → {2, 3, 4, S1}."""
    found: set[str] = set()
    for match in _PATTERNS[kind].finditer(text):
        items = re.findall(r"([A-Z]?)(\d+)|(" + _ROMAN + r")|(-|–|—|to)", match.group("numbers"))
        previous = None
        dash = False
        for prefix, digits, roman, separator in items:
            if separator:
                dash = True
                continue
            number = _from_roman(roman) if roman else int(digits)
            if roman and _to_roman(number) != roman:
                continue  # 'IIII' is no number

            def write(n: int, prefix=prefix, roman=roman) -> str:
                return _to_roman(n) if roman else f"{prefix}{n}"

            series = "roman" if roman else prefix
            if dash and previous is not None and previous[0] == series and 0 < number - previous[1] <= 20:
                found.update(write(n) for n in range(previous[1] + 1, number))
            found.add(write(number))
            previous, dash = (series, number), False
    return found


_ROMAN_DIGITS = (("L", 50), ("XL", 40), ("X", 10), ("IX", 9), ("V", 5), ("IV", 4), ("I", 1))


def _from_roman(text: str) -> int:
    value = {"I": 1, "V": 5, "X": 10, "L": 50}
    return sum(-value[a] if value[a] < value[b] else value[a] for a, b in zip(text, text[1:] + "I", strict=True))


def _to_roman(number: int) -> str:
    out = ""
    for letters, value in _ROMAN_DIGITS:
        while number >= value:
            out, number = out + letters, number - value
    return out


def cites(sentence: str, kind: str, number: str) -> bool:
    return number in numbers_cited(sentence, kind)


@lru_cache(maxsize=4096)
def _latex_to_text(text: str) -> str:
    try:
        from pylatexenc.latex2text import LatexNodes2Text
    except ImportError:  # without pylatexenc, markup is dropped by the key's own filter
        return text
    try:
        return LatexNodes2Text(math_mode="text", keep_comments=False).latex_to_text(text)
    except Exception:  # a caption pylatexenc cannot parse is compared as written
        return text


def caption_key(text: str, latex: bool = False) -> str:
    """What two renderings of one caption share: letters and digits, case-folded, in order.

    LaTeX (LATEX=True) is first turned into the characters it prints (`\\alpha` → α, `--` → –);
    then compatibility forms are unfolded (ﬁ → fi) and every mark, space and punctuation dropped.
    """
    if latex:
        # A caption is one piece of text with its comments gone: a bare '%' left in it is a printed
        # percent sign (a source's '\\%' once unescaped), not the start of a comment to drop.
        text = _latex_to_text(re.sub(r"(?<!\\)%", r"\\%", text))
    text = unicodedata.normalize("NFKD", text).casefold()
    return "".join(char for char in text if char.isalnum())


def strip_caption_label(text: str) -> str:
    """'Figure 3: Loss …' / 'FIG. 3. Loss …' / 'Table S1 Loss …' → 'Loss …'."""
    return re.sub(r"^\s*(?:" + "|".join(_NAMES.values()) + r")\s*(?:[A-Z]?\d+|[IVXL]+\b)\s*[.:|]?\s*", "", text, count=1)


def same_caption(a: str, b: str) -> bool:
    """True when A and B print the same caption (labels such as 'Figure 3:' ignored)."""
    return caption_key(strip_caption_label(a)) == caption_key(strip_caption_label(b))


def similarity(a: str, b: str) -> float:
    """0-1 likeness of two caption keys (difflib ratio; quick to reject very different lengths)."""
    from difflib import SequenceMatcher

    if not a or not b:
        return 0.0
    if min(len(a), len(b)) / max(len(a), len(b)) < 0.5:
        return 0.0
    return SequenceMatcher(None, a, b, autojunk=False).ratio()
