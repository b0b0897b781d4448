"""Citations as the paper prints them: `\\citet{knutson_friends_2014}` → "Knutson et al. (2014)".

Why: a caption that reads "16 of 51 hot Jupiters from [knutson_friends_2014]" is not what the
reader of the paper saw, and a model trained on it learns BibTeX keys. What TeX printed is known
once the bibliography has been processed:
- the `.aux` file (BibTeX): natbib's `\\bibcite{key}{{number}{year}{{authors}}{{all authors}}}`,
  or LaTeX's plain `\\bibcite{key}{label}` ("12", "Knu14");
- the `.bbl` file: natbib's `\\bibitem[Authors(year)All]{key}`, acmart's
  `\\bibitem[\\citeauthoryear{all}{authors}{year}]{key}`, plain `\\bibitem{key}` numbered in order,
  or biblatex's `\\entry{key}` list, numbered in its (sorted) order.

Numbers or author-year follows natbib's own rule: author-year when every entry has a year, unless
the paper asks for numbers (natbib's `numbers`/`super` options, `\\setcitestyle{numbers}`,
`\\citestyle{acmnumeric}`) or its class sets numbers (REVTeX, acmart, IEEEtran); the AASTeX and
MNRAS classes set author-year. Punctuation (round or square brackets, a comma before the year) is
natbib's default; the class may print it otherwise, which changes no word of the caption.
A key that is not in the bibliography stays `[key]`, as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from scitune.sources.tex import aux_texts

_NUMERIC_CLASSES = ("revtex", "acmart", "IEEEtran", "ieeeconf", "elsarticle-num")
_AUTHOR_YEAR_CLASSES = ("aastex", "mnras", "emulateapj", "agutex", "copernicus")


@dataclass
class Entry:
    number: str  # printed label in numeric mode ("12", "Knu14")
    year: str = ""
    authors: str = ""
    all_authors: str = ""


@dataclass
class Citations:
    entries: dict[str, Entry] = field(default_factory=dict)
    numeric: bool = True

    def __bool__(self) -> bool:
        return bool(self.entries)

    def render(self, command: str, keys: list[str], notes: list[str]) -> str:
        """What `\\COMMAND[NOTES…]{KEYS}` prints (natbib's forms; `\\cite` as `\\citet` in
        author-year mode, as `\\citep` in numeric mode)."""
        known = [self.entries.get(key) for key in keys]
        if not keys or any(entry is None for entry in known):
            return "[" + ", ".join(keys) + "]"
        pre, post = ("", notes[0]) if len(notes) == 1 else (notes[0], notes[1]) if len(notes) == 2 else ("", "")
        star = command.endswith("*")
        command = command.rstrip("*")
        names = [(e.all_authors if star and e.all_authors else e.authors) or e.number for e in known]
        if command in ("citeauthor", "Citeauthor"):
            return "; ".join(names)
        if command in ("citeyear", "citeyearpar"):
            years = ", ".join(e.year or e.number for e in known)
            return f"({years})" if command == "citeyearpar" else years
        if self.numeric:
            numbers = _compress([e.number for e in known])
            inner = ", ".join(part for part in (pre, numbers, post) if part)
            if command in ("citet", "Citet", "textcite"):
                return "; ".join(f"{n} [{e.number}]" for n, e in zip(names, known, strict=True))
            return inner if command in ("citealp", "citenum") else f"[{inner}]"
        if command in ("cite", "citet", "Citet", "textcite", "citealt", "Citealt"):
            # natbib puts both notes beside the last year: \citet[red,][p. 2]{k} → 'K et al. (red, 2014, p. 2)'
            open_, close = ("", "") if command in ("citealt", "Citealt") else ("(", ")")
            years = [e.year for e in known]
            years[-1] = ", ".join(part for part in (f"{pre} {years[-1]}".strip(), post) if part)
            return "; ".join(f"{n} {open_}{y}{close}" for n, y in zip(names, years, strict=True))
        inner = "; ".join(f"{n}, {e.year}" for n, e in zip(names, known, strict=True))
        inner = ", ".join(part for part in (f"{pre} {inner}".strip(), post) if part)
        return inner if command in ("citealp", "Citealp") else f"({inner})"


def _compress(numbers: list[str]) -> str:
    """'2, 3, 4, 5' → '2–5' (natbib's and most numeric classes' compression of runs of three or more)."""
    if not all(n.isdigit() for n in numbers):
        return ", ".join(numbers)
    values = sorted({int(n) for n in numbers})
    runs, start = [], 0
    for index in range(1, len(values) + 1):
        if index == len(values) or values[index] != values[index - 1] + 1:
            run = values[start:index]
            runs.append(f"{run[0]}\u2013{run[-1]}" if len(run) >= 3 else ", ".join(map(str, run)))
            start = index
    return ", ".join(runs)


def _groups(text: str) -> list[str]:
    """'{a}{b{c}}{d}' → ['a', 'b{c}', 'd'] (top-level brace groups)."""
    groups, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char == "{":
            if depth == 0:
                start = index + 1
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                groups.append(text[start:index])
    return groups


def _plain(tex: str) -> str:
    """Author and year fields as text ('{Knutson} {et~al.}' → 'Knutson et al.')."""
    from scitune.sources.latex_text import clean

    return clean(tex.replace("\\protect", ""), {}, {})


def parse_aux(aux: Path) -> dict[str, Entry]:
    """`\\bibcite` lines of AUX and of the .aux files it `\\@input`s."""
    entries: dict[str, Entry] = {}
    for text in aux_texts(aux):
        for match in re.finditer(r"^\\bibcite\{([^}]+)\}\{(.*)\}\s*$", text, flags=re.MULTILINE):
            value = match.group(2)
            fields = _groups(value) if value.startswith("{") else []
            if len(fields) >= 3:
                entries[match.group(1)] = Entry(_plain(fields[0]), _plain(fields[1]), _plain(fields[2]),
                                                _plain(fields[3]) if len(fields) > 3 else "")
            else:
                entries[match.group(1)] = Entry(_plain(value))
    return entries


def _bracket(text: str, start: int) -> int:
    """Index of the ']' closing the '[' at START, braces respected."""
    depth = 0
    for index in range(start + 1, len(text)):
        char = text[index]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "]" and depth == 0:
            return index
    return -1


def parse_bbl(bbl: Path) -> dict[str, Entry]:
    """`\\bibitem`s (natbib, acmart or plain) or biblatex `\\entry`s of a .bbl, numbered in order."""
    text = re.sub(r"(?<!\\)%.*", "", bbl.read_text(errors="replace"))
    entries: dict[str, Entry] = {}
    if "\\entry{" in text and "\\bibitem" not in text:  # biblatex: numbers are the sorted list's order
        for number, key in enumerate(re.findall(r"\\entry\{([^}]+)\}", text), start=1):
            entries.setdefault(key, Entry(str(number)))
        return entries
    for match in re.finditer(r"\\bibitem\s*", text):
        index, label = match.end(), None
        if text[index:index + 1] == "[":
            end = _bracket(text, index)
            if end < 0:
                continue
            label, index = text[index + 1:end], end + 1
        key = re.match(r"\s*\{([^}]+)\}", text[index:])
        if key is None:
            continue
        entries[key.group(1).strip()] = _bbl_entry(label, len(entries) + 1)
    return entries


def _bbl_entry(label: str | None, number: int) -> Entry:
    if label is None:
        return Entry(str(number))
    label = " ".join(label.split())
    if label.startswith("{") and _groups(label) == [label[1:-1]]:  # REVTeX and AASTeX brace the whole label
        label = label[1:-1]
    acm = re.search(r"\\citeauthoryear\s*\{", label)
    if acm:
        fields = _groups(label[acm.end() - 1:])
        if len(fields) >= 3:
            return Entry(str(number), _plain(fields[2]), _plain(fields[1]), _plain(fields[0]))
    depth, open_at = 0, -1
    for index, char in enumerate(label):  # natbib: 'Authors(year)All', the first '(' outside braces
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "(" and depth == 0:
            open_at = index
            break
    close_at = label.find(")", open_at)
    if open_at < 0 or close_at < 0:
        return Entry(_plain(label))  # alpha-style label: '[Knu14]'
    year = label[open_at + 1:close_at]
    return Entry(str(number), _plain(year), _plain(re.sub(r"\\citenamefont\s*", "", label[:open_at])),
                 _plain(re.sub(r"\\citenamefont\s*", "", label[close_at + 1:])))


def numeric_style(preamble: str, entries: dict[str, Entry]) -> bool:
    """True when the paper prints numbers ('[12]'), False for author-year (see the module docstring)."""
    asks = re.findall(r"\\usepackage\s*\[([^\]]*)\]\s*\{natbib\}|\\setcitestyle\s*\{([^}]*)\}"
                      r"|\\citestyle\s*\{([^}]*)\}", preamble)
    for options in (",".join(groups) for groups in asks):
        if re.search(r"numbers|super|acmnumeric|\bnumeric", options):
            return True
        if re.search(r"authoryear|acmauthoryear", options):
            return False
    document_class = re.search(r"\\documentclass\s*(?:\[[^\]]*\])?\s*\{([^}]+)\}", preamble)
    name = document_class.group(1) if document_class else ""
    if name.startswith(_NUMERIC_CLASSES):
        return True
    if name.startswith(_AUTHOR_YEAR_CLASSES):
        return False
    return not entries or not all(entry.year and entry.authors for entry in entries.values())


def read_citations(preamble: str, aux: Path | None, main: Path) -> Citations:
    """The paper's bibliography as printed: from AUX (a compile's, with its .bbl), else from the
    .aux or .bbl the authors shipped beside the MAIN file (arXiv sources carry the .bbl)."""
    entries: dict[str, Entry] = {}
    for path in (aux, main.with_suffix(".aux"), main.with_suffix(".bbl")):
        if path is None or not path.is_file():
            continue
        entries = parse_aux(path) if path.suffix == ".aux" else parse_bbl(path)
        if not entries and path.suffix == ".aux":
            bbl = path.with_suffix(".bbl")
            entries = parse_bbl(bbl) if bbl.is_file() else {}
        if entries:
            break
    return Citations(entries, numeric_style(preamble, entries))
