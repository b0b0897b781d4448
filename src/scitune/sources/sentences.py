"""Sentence boundaries in scientific text, where "Eq. (3)", "et al. (2020)" and "Fig. 2" are not ends.

A boundary is a '.', '!' or '?' followed by space and a capital, a digit or a bracket, unless the
word before the period is a known abbreviation, an initial ("J. Smith") or a dotted abbreviation
("e.g.", "i.e."). Missing a boundary only keeps two sentences together; a false boundary cuts one
in half, so the rule errs towards keeping text together.
"""

from __future__ import annotations

import re

ABBREVIATIONS = frozenset({
    "eq", "eqs", "eqn", "eqns", "fig", "figs", "tab", "tabs", "sec", "secs", "sect", "ch", "chap", "app",
    "ref", "refs", "no", "nos", "vol", "vols", "pp", "p", "ed", "eds", "al", "cf", "vs", "viz", "approx",
    "resp", "ca", "incl", "thm", "lem", "prop", "def", "cor", "alg", "dr", "prof", "mr", "mrs", "ms", "st",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "est", "max", "min",
})
"""Lower-case words that end with a period without ending a sentence (checked on real papers)."""

_CANDIDATE = re.compile(r"[.!?]\s+(?=[A-Z0-9(\[])")
_DOTTED = re.compile(r"(?:[a-z]\.)+[a-z]")  # e.g, i.e, u.s (the last period is the candidate's)


def _is_abbreviation(word: str) -> bool:
    token = word.lstrip("([{\"'").rstrip(".").lower()
    return token in ABBREVIATIONS or len(token) == 1 and token.isalpha() or bool(_DOTTED.fullmatch(token))


def split_sentences(text: str) -> list[str]:
    """The sentences of TEXT, whitespace-trimmed, in order; joining them with spaces gives TEXT
    with its whitespace between sentences normalised."""
    sentences, start = [], 0
    for match in _CANDIDATE.finditer(text):
        end = match.start() + 1
        words = text[start:end].split()
        if text[match.start()] == "." and words and _is_abbreviation(words[-1]):
            continue
        sentences.append(text[start:end].strip())
        start = match.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences
