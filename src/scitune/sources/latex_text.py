"""LaTeX source → the text a reader sees, and the sentences that cite a figure.

Cleaning keeps what the author wrote: math stays as LaTeX source (`$x^2$`), citations become
what the paper prints when its bibliography is known (`citations`), else `[key]`; references become what TeX prints ("Figure 3", "Fig. 3" when the author typed "Fig.~"),
formatting commands keep their argument, dashes and quotes become their characters.
A sentence cites a figure when it holds a `\\ref`-like command to one of the figure's labels (its
sub-figures' labels count) or names it in plain text ("Figure 3").
"""

from __future__ import annotations

import re

from scitune.sources.citations import Citations
from scitune.sources.latex_tree import Macro, expand_macros
from scitune.sources.paper_text import numbers_cited

REF_COMMANDS = ("ref", "cref", "Cref", "autoref", "Autoref", "subref", "vref", "Vref", "labelcref", "crefrange",
                "Crefrange", "nameref", "hyperref")
_REF = re.compile(r"(?P<name>(?:Figures?|Figs?\.|Tables?|Tabs?\.|Algorithms?|Alg\.)\s*~?\s*)?\\(?P<cmd>"
                  + "|".join(REF_COMMANDS) + r")\*?\s*(?:\[[^\]]*\])?\s*\{(?P<labels>[^}]+)\}(?:\s*\{(?P<to>[^}]+)\})?")
CITE = re.compile(r"\\(?P<cmd>(?:cite|citet|Citet|citep|Citep|citealt|Citealt|citealp|Citealp|citeauthor|Citeauthor|"
                   r"citeyear|citeyearpar|citenum|parencite|textcite|autocite|supercite)\*?)"
                   r"\s*(?P<notes>(?:\[[^\]]*\]\s*){0,2})\{(?P<keys>[^}]+)\}")
_MARK = re.compile(r"\x01([^\x02]*)\x02")
_KEEP_ARGUMENT = ("textbf", "textit", "emph", "texttt", "textsc", "textsf", "textrm", "textup", "textnormal",
                  "underline", "mbox", "hbox", "text", "url", "bf", "it", "em", "rm", "sf", "tt", "sc", "textcolor",
                  "color", "uline", "st", "hl", "textsuperscript", "textsubscript", "fbox", "framebox", "ensuremath",
                  "added")  # AASTeX's (and the changes package's) revision marks print the added text ...
_DROP_WITH_ARGUMENT = ("footnote", "footnotetext", "label", "vspace", "hspace", "thanks", "index", "ref_drop",
                       "protect", "phantom", "hphantom", "vphantom", "todo", "marginpar", "includegraphics", "linebreak",
                       "explain", "deleted")  # ... and neither the reviewer's note nor the deleted text
_ACCENTS = {"'": "\u0301", "`": "\u0300", "^": "\u0302", '"': "\u0308", "~": "\u0303", "c": "\u0327", "v": "\u030c",
            "=": "\u0304", ".": "\u0307", "u": "\u0306", "H": "\u030b", "r": "\u030a"}


def _group_end(text: str, start: int) -> int:
    depth = 0
    for index in range(start, len(text)):
        char = text[index]
        if char == "{" and (index == 0 or text[index - 1] != "\\"):
            depth += 1
        elif char == "}" and text[index - 1] != "\\":
            depth -= 1
            if depth == 0:
                return index
    return -1


def _unwrap(text: str, names: tuple[str, ...], keep: bool) -> str:
    """`\\name[opt]{arg}` → arg (KEEP) or nothing; nested braces handled; `\\textcolor{red}{x}` → x."""
    pattern = re.compile(r"\\(" + "|".join(names) + r")\*?\s*(?:\[[^\]]*\]\s*)?(?=\{)")
    for _ in range(6):
        match = pattern.search(text)
        if not match:
            return text
        start = match.end()
        end = _group_end(text, start)
        if end < 0:
            return text[:match.start()] + text[match.end():]
        argument = text[start + 1:end]
        if match.group(1) in ("textcolor", "color") and keep:
            nxt = re.match(r"\s*\{", text[end + 1:])
            if match.group(1) == "textcolor" and nxt:
                second_start = end + 1 + nxt.end() - 1
                second_end = _group_end(text, second_start)
                if second_end > 0:
                    text = text[:match.start()] + text[second_start + 1:second_end] + text[second_end + 1:]
                    continue
            text = text[:match.start()] + text[end + 1:]
            continue
        text = text[:match.start()] + (argument if keep else "") + text[end + 1:]
    return text


def mark_refs(text: str) -> str:
    """Each `\\ref`-like command becomes \\x01label,label\\x02 (with the word the author typed before it)."""
    def mark(match: re.Match) -> str:
        labels = match.group("labels")
        if match.group("to"):
            labels += "," + match.group("to")
        word = " ".join(match.group("name").replace("~", " ").split()) + " " if match.group("name") else ""
        return f"{word}\x01{match.group('cmd')}|{labels}\x02"
    return _REF.sub(mark, text)


def render_marks(text: str, printed: dict[str, tuple[str, str]]) -> str:
    """Marks back to what TeX prints: 'Figure 3' for \\cref, '3' after the author's own 'Fig.~'."""
    def render(match: re.Match) -> str:
        command, labels = match.group(1).split("|", 1)
        names = [printed.get(label.strip(), ("", "??")) for label in labels.split(",")]
        numbers = " and ".join(number for _, number in names)
        before = text[max(0, match.start() - 12):match.start()]
        if re.search(r"(?:Figures?|Figs?\.|Tables?|Tabs?\.|Algorithms?|Alg\.) $", before):
            return numbers
        if command in ("cref", "Cref", "autoref", "Autoref", "labelcref", "crefrange", "Crefrange", "vref", "Vref"):
            kinds = {kind for kind, _ in names if kind}
            kind = kinds.pop() if len(kinds) == 1 else ""
            plural = "s" if len(names) > 1 else ""
            return f"{kind}{plural} {numbers}".strip() if kind else numbers
        return numbers
    return _MARK.sub(render, text)


def _citation(match: re.Match, citations: Citations | None) -> str:
    keys = [key.strip() for key in match.group("keys").split(",") if key.strip()]
    if not citations:
        return "[" + ", ".join(keys) + "]"
    notes = re.findall(r"\[([^\]]*)\]", match.group("notes"))
    return citations.render(match.group("cmd"), keys, notes)


def clean(text: str, macros: dict[str, Macro], printed: dict[str, tuple[str, str]] | None,
          citations: Citations | None = None) -> str:
    """LaTeX → readable text (see the module docstring); PRINTED None keeps the reference marks
    in place, to be rendered per sentence once the cited labels are known. CITATIONS: the paper's
    bibliography (`citations.read_citations`), for citations as printed."""
    text = expand_macros(text, macros)
    text = mark_refs(text)
    text = re.sub(r"\\href\s*\{[^{}]*\}", "", text)  # \href{url}{text} prints its text only
    text = CITE.sub(lambda m: _citation(m, citations), text)
    math: list[str] = []

    def keep_math(match: re.Match) -> str:
        math.append(" ".join(match.group(0).split()))
        return f"\x03{len(math) - 1}\x03"

    text = re.sub(r"\$\$.+?\$\$|\$[^$]+\$|\\\(.+?\\\)|\\\[.+?\\\]", keep_math, text, flags=re.DOTALL)
    text = _unwrap(text, _DROP_WITH_ARGUMENT, keep=False)
    text = _unwrap(text, _KEEP_ARGUMENT, keep=True)
    text = re.sub(r"\\([`'^\"~=.])\s*\{?([A-Za-z])\}?", lambda m: m.group(2) + _ACCENTS[m.group(1)], text)
    text = re.sub(r"\\([cvuHr])\s*\{([A-Za-z])\}", lambda m: m.group(2) + _ACCENTS[m.group(1)], text)
    text = text.replace("---", "\u2014").replace("--", "\u2013").replace("``", "\u201c").replace("''", "\u201d")
    text = re.sub(r"(?<!\\)`", "\u2018", text).replace("'", "\u2019")
    for escaped in ("%", "&", "_", "#", "$", "{", "}"):
        text = text.replace("\\" + escaped, escaped.join(["\x04", "\x04"]))
    text = re.sub(r"\\(?:begin|end)\s*\{[^}]*\}(?:\s*\[[^\]]*\])?", " ", text)
    text = re.sub(r"\\[A-Za-z@]+\*?(?:\s*\[[^\]]*\])?\s*\{([^{}]*)\}", r"\1", text)  # unknown command: its argument
    text = re.sub(r"\\[A-Za-z@]+\*?", "", text)  # commands without arguments (\centering, \small)
    text = re.sub(r"\\[,;:! ]", " ", text)
    text = text.replace("~", " ").replace("\\\\", " ").replace("{", "").replace("}", "")
    text = re.sub(r"\x04(.)\x04", r"\1", text)
    text = re.sub(r"\x03(\d+)\x03", lambda m: math[int(m.group(1))], text)
    if printed is not None:
        text = render_marks(text, printed)
    return " ".join(text.split())


def paragraphs_of(body: str) -> list[str]:
    """Body text outside floats and display environments that hold no prose, split at blank lines."""
    body = re.sub(r"\\begin\{(figure\*?|table\*?|wrapfigure|wraptable|algorithm\*?|deluxetable\*?|SCfigure|"
                  r"sidewaysfigure|sidewaystable)\}.*?\\end\{\1\}", "\n\n", body, flags=re.DOTALL)
    body = re.sub(r"\\(?:sub)*section\*?\s*(?:\[[^\]]*\])?\s*\{[^}]*\}|\\paragraph\*?\s*\{[^}]*\}"
                  r"|\\chapter\*?\s*\{[^}]*\}", "\n\n", body)
    return [p for p in re.split(r"\n\s*\n", body) if p.strip()]


def cited_labels(sentence_marked: str) -> set[str]:
    return {label.strip() for match in _MARK.finditer(sentence_marked)
            for label in match.group(1).split("|", 1)[1].split(",")}


def citing_sentences(paragraphs: list[str], macros: dict[str, Macro], printed: dict[str, tuple[str, str]],
                     citations: Citations | None = None) -> list[tuple[str, list[tuple[str, set[str]]]]]:
    """Each paragraph as clean text with its sentences and the labels each sentence cites."""
    from scitune.sources.sentences import split_sentences

    out = []
    for paragraph in paragraphs:
        if "\\ref" not in paragraph and "ref{" not in paragraph and not re.search(
                r"(?:Fig|Table|Tab|FIG)", paragraph):
            continue
        marked = clean(paragraph, macros, None, citations)
        sentences = []
        for sentence in split_sentences(marked):
            labels = cited_labels(sentence)
            sentences.append((render_marks(sentence, printed), labels))
        out.append((render_marks(marked, printed), sentences))
    return out


def unit_is_cited(sentence: str, labels: set[str], unit_labels: list[str], kind: str, number: str) -> bool:
    return bool(labels & set(unit_labels)) or number in numbers_cited(sentence, kind)
