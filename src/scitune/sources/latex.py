"""FigureRecords from a paper's LaTeX source: a folder or an arXiv source archive.

What the authors wrote is taken as written: the caption of each `figure`/`figure*` (and of each
`subfigure`/`\\subfloat`), its `\\includegraphics` files, and the paragraphs that `\\ref`/`\\cref`/
`\\autoref` its label, with the exact sentences that do. Text is cleaned to plain text (math kept as
LaTeX source, citations as `[key]`, references as `Figure N`). The figure type comes only from
evidence: a `table` environment, a pgfplots axis (bar, scatter or line plot), a TikZ graph of
nodes, an equation set as a figure; otherwise it is unknown and left out of the target.

Problems are reported per paper and per figure (a missing file, unbalanced braces, an EPS without
Ghostscript, a figure drawn in LaTeX with no image to show); nothing is written outside the
output folder, and archive members that would escape their folder stop that paper only.
"""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from scitune.contracts import FigureRecord, Rejection

DATASET = "latex"
_INPUT = re.compile(r"\\(?:input|include)\s*\{([^}]+)\}")
_BEGIN_DOC = re.compile(r"\\begin\{document\}")
_FLOAT = re.compile(r"\\begin\{(figure\*?|table\*?)\}")
_INCLUDE = re.compile(r"\\includegraphics\s*(?:\[[^\]]*\])?\s*\{([^}]+)\}")
_SUBFIGURE = re.compile(r"\\begin\{subfigure\}.*?\\end\{subfigure\}", re.DOTALL)
_REF = re.compile(r"(?P<name>(?:Figure|Fig\.|Figs\.|Table|Tab\.)\s*~?\s*)?\\(?P<cmd>ref|cref|Cref|autoref)\s*\{(?P<labels>[^}]+)\}")
_CITE = re.compile(r"\\cite[tp]?\*?\s*(?:\[[^\]]*\])?\s*\{([^}]+)\}")
_GRAPHICSPATH = re.compile(r"\\graphicspath\s*\{((?:\{[^}]*\})+)\}")
_IMAGE_EXTENSIONS = ("", ".png", ".jpg", ".jpeg", ".pdf", ".eps")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\\$])")


class LatexError(ValueError):
    """A problem in one paper's source (reported, the batch goes on)."""


def strip_comments(text: str) -> str:
    """Drop `% …` to the end of each line (an escaped `\\%` stays)."""
    return re.sub(r"(?<!\\)%[^\n]*", "", text)


def read_group(text: str, start: int, where: str) -> tuple[str, int]:
    """The content of the `{…}` group opening at TEXT[start] (nested groups kept) and the index
    after it; LatexError naming WHERE when the braces do not balance."""
    if start >= len(text) or text[start] != "{":
        raise LatexError(f"{where}: expected '{{'")
    depth = 0
    for index in range(start, len(text)):
        char = text[index]
        if char == "\\":
            continue
        if char == "{" and text[index - 1] != "\\":
            depth += 1
        elif char == "}" and text[index - 1] != "\\":
            depth -= 1
            if depth == 0:
                return text[start + 1:index], index + 1
    raise LatexError(f"{where}: unbalanced braces")


def command_argument(text: str, command: str, where: str, start: int = 0) -> tuple[str, int] | None:
    """The first braced argument of `\\command[opt]{…}` at or after START, or None."""
    match = re.compile(r"\\" + command + r"\s*(?:\[[^\]]*\])?\s*(?=\{)").search(text, start)
    if not match:
        return None
    return read_group(text, match.end(), where)


def expand_inputs(path: Path, root: Path, problems: list[str], depth: int = 0) -> str:
    """The file's text with every `\\input`/`\\include` replaced by the file it names (inside ROOT)."""
    text = strip_comments(path.read_text(encoding="utf-8", errors="replace"))
    if depth > 20:
        problems.append(f"{path.name}: \\input nested more than 20 deep (a cycle?)")
        return text

    def include(match: re.Match) -> str:
        name = match.group(1).strip()
        candidate = (path.parent / name)
        candidate = candidate if candidate.suffix == ".tex" else candidate.with_name(candidate.name + ".tex")
        if not candidate.resolve().is_relative_to(root.resolve()):
            problems.append(f"\\input{{{name}}} points outside the paper's folder; skipped")
            return ""
        if not candidate.is_file():
            problems.append(f"\\input{{{name}}}: file not found")
            return ""
        return expand_inputs(candidate, root, problems, depth + 1)

    return _INPUT.sub(include, text)


def simple_macros(text: str) -> dict[str, str]:
    """`\\newcommand{\\x}{body}` / `\\def\\x{body}` without arguments: what `\\x` stands for."""
    macros = {}
    for match in re.finditer(r"\\(?:re)?newcommand\*?\s*\{?\\([A-Za-z]+)\}?\s*(?=\{)", text):
        try:
            macros[match.group(1)] = read_group(text, match.end(), "macro")[0]
        except LatexError:
            continue
    for match in re.finditer(r"\\def\s*\\([A-Za-z]+)\s*(?=\{)", text):
        try:
            macros[match.group(1)] = read_group(text, match.end(), "macro")[0]
        except LatexError:
            continue
    return macros


@dataclass
class Float:
    """One figure or table environment of the paper, in document order."""

    number: int
    kind: str  # "figure" or "table"
    label: str | None = None
    caption: str = ""
    panels: list[tuple[str, str]] = field(default_factory=list)  # (graphics file, sub-caption)
    evidence: str | None = None


def figure_type_evidence(kind: str, body: str) -> str | None:
    if kind == "table":
        return "table"
    if "\\begin{axis}" in body or "\\addplot" in body:
        if "ybar" in body or "xbar" in body:
            return "bar chart"
        if "only marks" in body:
            return "scatter plot"
        return "graph plot"
    if "\\begin{tikzpicture}" in body and "\\node" in body and ("->" in body or "\\draw" in body):
        return "node diagram"
    if not _INCLUDE.search(body) and re.search(r"\\begin\{(equation|align|gather)\*?\}", body):
        return "equation"
    return None


def parse_floats(body: str) -> tuple[list[Float], list[str]]:
    """Figure/table environments with caption, label, panels and type evidence; problems found."""
    floats, problems = [], []
    numbers = {"figure": 0, "table": 0}
    for match in _FLOAT.finditer(body):
        env = match.group(1)
        kind = env.rstrip("*")
        end = body.find(f"\\end{{{env}}}", match.end())
        if end < 0:
            problems.append(f"\\begin{{{env}}} without \\end{{{env}}}")
            continue
        numbers[kind] += 1
        content = body[match.end():end]
        item = Float(numbers[kind], kind, evidence=figure_type_evidence(kind, content))
        where = f"{kind} {numbers[kind]}"
        try:
            subfigures = _SUBFIGURE.findall(content)
            outer = _SUBFIGURE.sub("", content)
            for sub in subfigures:
                files = _INCLUDE.findall(sub)
                caption = command_argument(sub, "caption", where)
                item.panels += [(f.strip(), caption[0] if caption else "") for f in files]
            for sub in re.finditer(r"\\subfloat\s*(?:\[(?P<cap>[^\]]*)\])?\s*(?=\{)", outer):
                group, _ = read_group(outer, sub.end(), where)
                item.panels += [(f.strip(), sub.group("cap") or "") for f in _INCLUDE.findall(group)]
            outer = re.sub(r"\\subfloat\s*(?:\[[^\]]*\])?\s*\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\}", "", outer)
            if not item.panels:
                item.panels = [(f.strip(), "") for f in _INCLUDE.findall(outer)]
            caption = command_argument(outer, "caption", where)
            item.caption = caption[0] if caption else ""
            label = re.search(r"\\label\s*\{([^}]+)\}", outer)
            item.label = label.group(1).strip() if label else None
        except LatexError as error:
            problems.append(str(error))
            continue
        floats.append(item)
    return floats, problems


def clean_text(text: str, labels: dict[str, str], macros: dict[str, str]) -> str:
    """LaTeX → readable plain text; math stays as source, refs become 'Figure N', cites '[key]'."""
    for name, body in macros.items():
        text = re.sub(r"\\" + name + r"(?![A-Za-z])", lambda _m, b=body: b, text)

    def ref(match: re.Match) -> str:
        names = [labels.get(label.strip(), "?") for label in match.group("labels").split(",")]
        numbers = " and ".join(n.split(" ", 1)[-1] for n in names)
        if match.group("name"):  # the author's own word: 'Fig.~\ref{x}' stays 'Fig. 2'
            return " ".join(match.group("name").replace("~", " ").split()) + " " + numbers
        if match.group("cmd") in ("cref", "Cref", "autoref"):  # these print the name themselves
            return " and ".join(names)
        return numbers

    text = _REF.sub(ref, text)
    text = _CITE.sub(lambda m: "[" + ", ".join(k.strip() for k in m.group(1).split(",")) + "]", text)
    math: list[str] = []
    text = re.sub(r"\$[^$]+\$|\\\(.+?\\\)", lambda m: math.append(m.group(0)) or f"\x00{len(math) - 1}\x00", text)
    for _ in range(3):  # formatting commands keep their argument, innermost first
        text = re.sub(r"\\(?:textbf|textit|emph|texttt|textsc|underline|mbox|text|url|textrm|mathrm)\s*\{([^{}]*)\}",
                      r"\1", text)
    text = re.sub(r"\\footnote\s*\{[^{}]*\}", "", text)
    text = re.sub(r"\\label\s*\{[^}]*\}", "", text)
    text = re.sub(r"\\[A-Za-z]+\*?(?:\[[^\]]*\])?\s*\{([^{}]*)\}", r"\1", text)  # unknown command: its argument
    text = re.sub(r"\\[A-Za-z]+\*?", "", text)  # commands without arguments (\centering, \small)
    text = text.replace("~", " ").replace("\\\\", " ").replace("{", "").replace("}", "").replace("\\%", "%")
    text = re.sub(r"\x00(\d+)\x00", lambda m: math[int(m.group(1))], text)
    return " ".join(text.split())


def paragraphs_of(body: str) -> list[str]:
    """Body text outside floats, split at blank lines."""
    body = re.sub(r"\\begin\{(figure\*?|table\*?)\}.*?\\end\{\1\}", "\n\n", body, flags=re.DOTALL)
    # Headings are not part of the paragraph that follows them.
    body = re.sub(r"\\(?:sub)*section\*?\s*\{[^}]*\}|\\paragraph\*?\s*\{[^}]*\}|\\chapter\*?\s*\{[^}]*\}",
                  "\n\n", body)
    return [p for p in re.split(r"\n\s*\n", body) if p.strip()]


def main_file(folder: Path) -> Path:
    candidates = [p for p in sorted(folder.rglob("*.tex")) if "\\documentclass" in p.read_text(errors="replace")]
    if not candidates:
        raise LatexError("no .tex file with \\documentclass")
    with_document = [p for p in candidates if _BEGIN_DOC.search(p.read_text(errors="replace"))]
    return (with_document or candidates)[0]


def unpack(source: Path, into: Path) -> Path:
    """A folder as is; a .tar.gz/.tgz/.tar extracted (members escaping the folder refused); a
    gzipped single file (arXiv's form for one-file papers) written as main.tex."""
    if source.is_dir():
        return source
    into.mkdir(parents=True, exist_ok=True)
    if tarfile.is_tarfile(source):
        with tarfile.open(source) as archive:
            try:
                archive.extractall(into, filter="data")
            except tarfile.FilterError as error:
                raise LatexError(f"archive member refused: {error}") from None
        return into
    if source.suffix == ".gz":
        (into / "main.tex").write_bytes(gzip.decompress(source.read_bytes()))
        return into
    if source.suffix == ".tex":
        shutil.copy(source, into / source.name)
        return into
    raise LatexError(f"{source.name} is not a folder, a .tex file or a (gzipped) tar archive")


def graphics_dirs(text: str, base: Path) -> list[Path]:
    dirs = [base]
    for match in _GRAPHICSPATH.finditer(text):
        dirs += [base / d for d in re.findall(r"\{([^}]*)\}", match.group(1))]
    return dirs


def find_graphic(name: str, dirs: list[Path], root: Path) -> Path | None:
    for folder in dirs:
        for extension in _IMAGE_EXTENSIONS:
            candidate = folder / (name + extension)
            if candidate.is_file() and candidate.resolve().is_relative_to(root.resolve()):
                return candidate
    return None


def to_png(source: Path, target: Path, dpi: int) -> None:
    """PNG/JPG copied as PNG; PDF page 1 rendered (pypdfium2); EPS through Ghostscript when present."""
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = source.suffix.lower()
    if suffix == ".pdf":
        import pypdfium2 as pdfium

        document = pdfium.PdfDocument(str(source))
        try:
            document[0].render(scale=dpi / 72).to_pil().convert("RGB").save(target)
        finally:
            document.close()
    elif suffix == ".eps":
        if shutil.which("gs") is None:
            raise LatexError(f"{source.name}: EPS needs Ghostscript (apt-get install ghostscript)")
        subprocess.run(["gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-dEPSCrop", "-sDEVICE=png16m",
                        f"-r{dpi}", f"-sOutputFile={target}", str(source)], check=True, timeout=120)
    else:
        from PIL import Image

        with Image.open(source) as image:
            image.convert("RGB").save(target)


def latex_reader(source: Path, out_dir: Path) -> tuple[list[FigureRecord], list[Rejection], int]:
    """`curate_papers` reader: records, rejections and (for LaTeX) no page count."""
    records, rejected = read_latex_paper(source, out_dir)
    return records, rejected, 0


def read_latex_paper(source: Path, out_dir: Path, paper_id: str | None = None,
                     dpi: int = 150) -> tuple[list[FigureRecord], list[Rejection]]:
    """Every figure of one paper as FigureRecords (images written to OUT_DIR/images/PAPER/), and
    every problem as a Rejection naming the paper and the figure."""
    source = Path(source)
    paper = paper_id or re.sub(r"(\.tar)?\.(gz|tgz|tar|tex)$", "", source.name)
    records, rejected = [], []

    def reject(item: str, kind: str, reason: str) -> None:
        rejected.append(Rejection(id=f"{paper}-{item}", dataset=DATASET, kind=kind, reason=reason,
                                  where=source.name))

    try:
        folder = unpack(source, Path(out_dir) / "sources" / paper)
        main = main_file(folder)
        problems: list[str] = []
        text = expand_inputs(main, folder, problems)
    except (LatexError, OSError, tarfile.TarError, EOFError) as error:
        reject("paper", "unreadable_paper", str(error))
        return records, rejected
    for problem in problems:
        reject("paper", "paper_problem", problem)
    begin = _BEGIN_DOC.search(text)
    body = text[begin.end():] if begin else text
    body = body.split("\\end{document}")[0]
    macros = simple_macros(text[: begin.start()] if begin else "")
    floats, float_problems = parse_floats(body)
    for problem in float_problems:
        reject("paper", "paper_problem", problem)
    labels = {f.label: f"{f.kind.capitalize()} {f.number}" for f in floats if f.label}
    paragraphs = [clean_text(p, labels, macros) for p in paragraphs_of(body)]
    dirs = graphics_dirs(text, main.parent)
    for item in floats:
        name = f"{item.kind.capitalize()} {item.number}"
        figure_id = f"{item.kind.capitalize()}{item.number}"
        caption = clean_text(item.caption, labels, macros)
        if not caption:
            reject(figure_id, "no_caption", f"{name} has no caption")
            continue
        cited = re.compile(re.escape(name) + r"(?![0-9])")
        citing = [p for p in paragraphs if cited.search(p)]
        sentences = [s for p in citing for s in _SENTENCE.split(p) if cited.search(s)]
        if not item.panels:
            reject(figure_id, "drawn_in_latex", f"{name} is drawn in LaTeX ({item.evidence or 'no image file'}): render the paper "
                              "to PDF and use `scitune curate pdf` for it")
            continue
        for letter, (file, subcaption) in zip("abcdefghijklmnopqrstuvwxyz", item.panels):
            panel = f"{figure_id}{letter if len(item.panels) > 1 else ''}"
            found = find_graphic(file, dirs, folder)
            if found is None:
                reject(panel, "missing_graphics", f"{name}: graphics file '{file}' not found")
                continue
            image = f"images/{paper}/{panel}.png"
            try:
                to_png(found, Path(out_dir) / image, dpi)
            except (LatexError, OSError, subprocess.SubprocessError) as error:
                reject(panel, getattr(error, "kind", "unreadable_graphics"), f"{name}: {error}")
                continue
            text_caption = caption + (f" ({letter}) {clean_text(subcaption, labels, macros)}"
                                      if subcaption and len(item.panels) > 1 else "")
            records.append(FigureRecord(
                id=f"{paper}-{panel}", image=image, figure_type=item.evidence, caption=f"{name}: {text_caption}",
                mentions=sentences, paragraphs=citing,
                source={"dataset": DATASET, "paper_id": paper, "figure_id": panel, "license": "the paper's own"}))
    return records, rejected
