"""The numbered figures, tables and algorithms of a LaTeX body, as TeX numbers them.

One float may print several numbered captions (three `\\caption`s stacked in one `figure`, two
minipages side by side, an `algorithm` inside a `figure*`), and a caption may stand outside any
float (`\\captionof{figure}`). Each numbered caption is one `Unit`; its graphics are the ones in
its minipage, or else the ones between the previous caption and it. Sub-figures (`subfigure`,
`subtable`, `\\subfloat`, `\\subfigure`) are panels of their unit with their own sub-caption and
label. `\\caption*` prints no number and makes no unit. Counters follow `\\setcounter`,
`\\addtocounter` and a redefined `\\thefigure` ("S\\arabic{figure}"); REVTeX and IEEEtran number
tables in Roman numerals. When the paper was compiled, the .aux numbers win.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from scitune.sources.latex_tree import read_group as tree_group

FLOATS = {"figure": "Figure", "figure*": "Figure", "wrapfigure": "Figure", "SCfigure": "Figure",
          "sidewaysfigure": "Figure", "table": "Table", "table*": "Table", "wraptable": "Table",
          "sidewaystable": "Table", "deluxetable": "Table", "deluxetable*": "Table", "algorithm": "Algorithm",
          "algorithm*": "Algorithm"}
COUNTERS = {"figure": "Figure", "table": "Table", "algorithm": "Algorithm"}
_BEGIN = re.compile(r"\\begin\s*\{(" + "|".join(re.escape(env) for env in FLOATS) + r")\}")
_GRAPHICS = re.compile(r"\\(?:includegraphics|epsfbox|epsffile|includestandalone)\s*\*?\s*(?:\[[^\]]*\]\s*)*\{([^}]+)\}"
                       r"|\\(?:epsfig|psfig)\s*\{[^}]*?file\s*=\s*([^,}]+)"
                       r"|\\plotone\s*\{([^}]+)\}|\\plottwo\s*\{([^}]+)\}\s*\{([^}]+)\}")
_DRAWN = re.compile(r"\\begin\{(tikzpicture|axis|tabular\*?|tabularx|longtable|algorithmic|picture|pspicture|"
                    r"minted|lstlisting|verbatim|array)\}|\\addplot|\\State\b|\\STATE\b|\\tablehead|\\startdata")
_SUB_ENV = re.compile(r"\\begin\{(subfigure|subtable)\}")
_SUBFLOAT = re.compile(r"\\(?:subfloat|subfigure|subtable)\s*(?:\[(?P<list>[^\]]*)\])?\s*(?:\[(?P<cap>[^\]]*)\])?\s*(?=\{)")
_CAPTION = re.compile(r"\\(?P<cmd>caption|captionof|tablecaption)(?P<star>\*?)\s*(?:\{(?P<type>[a-z]+)\}\s*)?(?:\[[^\]]*\]\s*)?(?=\{)")
_LABEL = re.compile(r"\\label\s*\{([^}]+)\}")
_ROMAN_TABLES = re.compile(r"\\documentclass\s*(?:\[[^\]]*\])?\s*\{(?:revtex4[^}]*|IEEEtran)\}")


def read_group(text: str, start: int) -> tuple[str, int] | None:
    """The `{…}` group opening at START, or after blanks there (a command's argument)."""
    return tree_group(text, start, skip_space=True)


def environment_end(text: str, env: str, start: int) -> int:
    """Index of the `\\end{ENV}` matching the `\\begin{ENV}` before START (nesting counted); -1."""
    pattern = re.compile(r"\\(begin|end)\s*\{" + re.escape(env) + r"\}")
    depth = 1
    for match in pattern.finditer(text, start):
        depth += 1 if match.group(1) == "begin" else -1
        if depth == 0:
            return match.start()
    return -1


@dataclass
class Panel:
    file: str
    caption: str = ""
    label: str | None = None
    options: str = ""


@dataclass
class Unit:
    """One numbered caption as printed: its kind, number, caption source, labels and graphics."""

    kind: str
    number: str
    caption: str
    label: str | None
    env: str
    position: int
    panels: list[Panel] = field(default_factory=list)
    sublabels: list[str] = field(default_factory=list)
    drawn: str | None = None  # what TeX draws itself (tikzpicture, tabular, algorithmic …)
    content: str = ""

    @property
    def figure_id(self) -> str:
        return f"{self.kind}{self.number}"

    @property
    def labels(self) -> list[str]:
        return ([self.label] if self.label else []) + self.sublabels


def graphics_in(text: str) -> list[Panel]:
    panels = []
    for match in _GRAPHICS.finditer(text):
        options = ""
        if match.group(0).startswith("\\includegraphics"):
            options = " ".join(re.findall(r"\[([^\]]*)\]", match.group(0)))
        for name in match.groups():
            if name:
                panels.append(Panel(name.strip(), options=options))
    return panels


def _roman(number: int) -> str:
    values = [(10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]
    out = ""
    for value, letters in values * 5:
        while number >= value:
            out += letters
            number -= value
    return out


class Numbering:
    """TeX's figure/table/algorithm counters and how each prints."""

    def __init__(self, roman_tables: bool):
        self.counts = {kind: 0 for kind in COUNTERS.values()}
        self.prefix = {kind: "" for kind in COUNTERS.values()}
        self.roman = {"Figure": False, "Table": roman_tables, "Algorithm": False}

    def apply(self, command: str) -> None:
        match = re.match(r"\\(setcounter|addtocounter)\s*\{(\w+)\}\s*\{(-?\d+)\}", command)
        if match and match.group(2) in COUNTERS:
            kind = COUNTERS[match.group(2)]
            value = int(match.group(3))
            self.counts[kind] = value if match.group(1) == "setcounter" else self.counts[kind] + value
            return
        match = re.match(r"\\renewcommand\s*\{?\\the(\w+)\}?\s*\{(.*)\}\s*$", command)
        if match and match.group(1) in COUNTERS:
            kind = COUNTERS[match.group(1)]
            body = match.group(2)
            self.roman[kind] = "\\Roman" in body
            self.prefix[kind] = re.sub(r"\\(?:arabic|Roman|roman|alph|Alph)\s*\{\w+\}.*", "", body).strip("{} ")

    def next(self, kind: str) -> str:
        self.counts[kind] += 1
        value = self.counts[kind]
        return self.prefix[kind] + (_roman(value) if self.roman[kind] else str(value))


_COUNTER_COMMAND = re.compile(r"\\(?:setcounter|addtocounter)\s*\{(?:figure|table|algorithm)\}\s*\{-?\d+\}"
                              r"|\\renewcommand\s*\{?\\the(?:figure|table|algorithm)\}?\s*\{[^\n]*\}")


def _cut_subunits(content: str) -> tuple[str, list[Panel], list[str]]:
    """Sub-figures out of CONTENT: the rest, their panels (file, sub-caption, label), their labels."""
    panels, labels = [], []
    while True:
        match = _SUB_ENV.search(content)
        if not match:
            break
        end = environment_end(content, match.group(1), match.end())
        if end < 0:
            break
        inner = content[match.end():end]
        caption = _CAPTION.search(inner)
        text = read_group(inner, caption.end())[0] if caption and read_group(inner, caption.end()) else ""
        label = _LABEL.search(inner)
        files = graphics_in(inner) or [Panel("", options="drawn")]
        for panel in files:
            panel.caption, panel.label = text, label.group(1) if label else None
        panels += files
        labels += [label.group(1)] if label else []
        content = content[:match.start()] + content[end + len(f"\\end{{{match.group(1)}}}"):]
    out, position = [], 0
    for match in _SUBFLOAT.finditer(content):
        if match.start() < position:
            continue
        group = read_group(content, match.end())
        if group is None:
            continue
        inner, end = group
        caption = match.group("cap") if match.group("cap") is not None else match.group("list") or ""
        label = _LABEL.search(inner) or _LABEL.search(caption)
        files = graphics_in(inner) or [Panel("", options="drawn")]
        for panel in files:
            panel.caption, panel.label = _LABEL.sub("", caption).strip(), label.group(1) if label else None
        panels += files
        labels += [label.group(1)] if label else []
        out.append(content[position:match.start()])
        position = end
    out.append(content[position:])
    return "".join(out), panels, labels


def _captions(content: str, default_kind: str) -> list[tuple[str, str, int, int]]:
    """Numbered captions in CONTENT: (kind, caption source, start, end)."""
    found = []
    for match in _CAPTION.finditer(content):
        group = read_group(content, match.end())
        if group is None or match.group("star"):
            continue
        kind = COUNTERS.get(match.group("type") or "", default_kind) if match.group("cmd") == "captionof" else default_kind
        found.append((kind, group[0], match.start(), group[1]))
    return found


def strip_definitions(text: str) -> str:
    """TEXT without its macro definitions (what they say happens only where they are used)."""
    out, position = [], 0
    for match in re.finditer(r"\\(?:re)?(?:newcommand|providecommand|DeclareRobustCommand)\*?\s*\{?\\[A-Za-z@]+\}?"
                             r"\s*(?:\[\d\]\s*)?(?:\[[^\]]*\]\s*)?(?=\{)|\\(?:g|e|x)?def\s*\\[A-Za-z@]+(?:#\d)*\s*(?=\{)", text):
        if match.start() < position:
            continue
        group = read_group(text, match.end())
        if group is None:
            continue
        out.append(text[position:match.start()])
        position = group[1]
    out.append(text[position:])
    return "".join(out)


def parse_units(body: str, preamble: str = "") -> tuple[list[Unit], list[str]]:
    """Every numbered caption of BODY in print order, and the problems met. Macros that change the
    counters (a `\\beginsupplement`) must already be expanded in BODY and PREAMBLE."""
    preamble = strip_definitions(preamble)
    numbering = Numbering(bool(_ROMAN_TABLES.search(preamble)))
    for command in _COUNTER_COMMAND.finditer(preamble):
        numbering.apply(command.group(0))
    units: list[Unit] = []
    problems: list[str] = []
    events = [(m.start(), "counter", m) for m in _COUNTER_COMMAND.finditer(body)]
    events += [(m.start(), "float", m) for m in _BEGIN.finditer(body)]
    events += [(m.start(), "captionof", m) for m in _CAPTION.finditer(body) if m.group("cmd") == "captionof"]
    events.sort(key=lambda e: e[0])
    covered_until = -1
    for start, what, match in events:
        if what == "counter":
            numbering.apply(match.group(0))
            continue
        if start < covered_until:
            continue  # inside a float already read (its algorithm, its \captionof)
        if what == "captionof":
            group = read_group(body, match.end())
            if group is None or match.group("star"):
                continue
            kind = COUNTERS.get(match.group("type") or "", "Figure")
            window_start = max(0, body.rfind("\\begin{minipage}", 0, start))
            window = body[window_start if start - window_start < 2000 else start - 600:start]
            label = _LABEL.search(body[group[1]:group[1] + 200])
            units.append(Unit(kind, numbering.next(kind), group[0], label.group(1) if label else None,
                              "captionof", start, graphics_in(window[-1500:])[-1:], drawn=_drawn(window)))
            continue
        env = match.group(1)
        end = environment_end(body, env, match.end())
        if end < 0:
            problems.append(f"\\begin{{{env}}} at character {start} has no \\end{{{env}}}")
            continue
        covered_until = end
        content = body[match.end():end]
        units += _float_units(env, content, start, numbering, problems)
    return units, problems


def _drawn(content: str) -> str | None:
    match = _DRAWN.search(content)
    if not match:
        return None
    return (match.group(1) or match.group(0).lstrip("\\")).rstrip("*")


def _sub_spans(content: str) -> list[tuple[int, int]]:
    spans = []
    for match in _SUB_ENV.finditer(content):
        end = environment_end(content, match.group(1), match.end())
        if end > 0:
            spans.append((match.start(), end))
    for match in _SUBFLOAT.finditer(content):
        group = read_group(content, match.end())
        if group is not None:
            spans.append((match.start(), group[1]))
    return spans


def _top_minipages(content: str) -> list[tuple[int, int]]:
    spans, position = [], 0
    while True:
        match = re.compile(r"\\begin\{minipage\}").search(content, position)
        if not match:
            return spans
        end = environment_end(content, "minipage", match.end())
        if end < 0:
            return spans
        spans.append((match.start(), end))
        position = end


def _single(kind: str, number: str, env: str, segment: str, start: int) -> Unit:
    """The unit of a SEGMENT holding one numbered caption."""
    rest, panels, sublabels = _cut_subunits(segment)
    caption = _captions(rest, kind)[0]
    label = _LABEL.search(rest[caption[2]:]) or _LABEL.search(rest)
    unit = Unit(caption[0], number, caption[1], label.group(1) if label else None, env, start, content=segment)
    unit.panels = panels + [p for p in graphics_in(rest) if p.file not in {q.file for q in panels}]
    unit.sublabels = sublabels
    unit.drawn = _drawn(rest) or next((p.options for p in panels if p.options == "drawn"), None)
    if unit.drawn == "drawn":
        unit.drawn = _drawn(segment) or "drawn"
    return unit


def _float_units(env: str, content: str, start: int, numbering: Numbering, problems: list[str]) -> list[Unit]:
    kind = FLOATS[env]
    units: list[Unit] = []
    # An algorithm float inside a figure is a unit of its own (numbered as an algorithm).
    inner_units: list[tuple[int, Unit]] = []
    while kind != "Algorithm":
        inner = re.search(r"\\begin\{(algorithm\*?)\}", content)
        if not inner:
            break
        inner_end = environment_end(content, inner.group(1), inner.end())
        if inner_end < 0:
            break
        block = content[inner.end():inner_end]
        caption = _captions(block, "Algorithm")
        before = len(_captions(content[:inner.start()], kind))
        if caption:
            label = _LABEL.search(block)
            inner_units.append((before, Unit("Algorithm", "", caption[0][1], label.group(1) if label else None,
                                             inner.group(1), start + inner.start(), drawn="algorithmic",
                                             content=block)))
        content = content[:inner.start()] + content[inner_end + len(f"\\end{{{inner.group(1)}}}"):]
    subs = _sub_spans(content)
    captions = [c for c in _captions(content, kind) if not any(a <= c[2] < b for a, b in subs)]
    if not captions:
        if not inner_units:
            problems.append(f"{kind.lower()} at character {start} has no numbered caption")
    minipages = _top_minipages(content)
    own = len(captions) > 1 and all(sum(1 for a, b in minipages if a < c[2] < b) == 1 for c in captions) and \
        len({next(i for i, (a, b) in enumerate(minipages) if a < c[2] < b) for c in captions}) == len(captions)
    segments = []
    previous = 0
    for index, caption in enumerate(captions):
        if len(captions) == 1:
            segments.append(content)
        elif own:
            a, b = next((a, b) for a, b in minipages if a < caption[2] < b)
            segments.append(content[a:b])
        else:  # stacked: the graphics before each caption are its own; the last takes the rest
            end = caption[3] if index < len(captions) - 1 else len(content)
            segment = content[previous:end]
            if not graphics_in(segment[:caption[2] - previous]) and not _drawn(segment):
                following = captions[index + 1][2] if index + 1 < len(captions) else len(content)
                segment = content[previous:following]
            segments.append(segment)
            previous = caption[3]
    emitted = 0
    for index, segment in enumerate(segments):
        for position, unit in inner_units:
            if position == index:
                unit.number = numbering.next("Algorithm")
                units.append(unit)
        units.append(_single(captions[index][0], numbering.next(captions[index][0]), env, segment, start))
        emitted += 1
    for position, unit in inner_units:
        if position >= emitted:
            unit.number = numbering.next("Algorithm")
            units.append(unit)
    return units
