"""FigureRecords from a paper's LaTeX source: a folder, a .tex file or an arXiv source archive.

The text comes from the source, the picture from the file the author included or, when TeX draws
the figure itself, from the paper compiled to PDF:
- Files are found the way TeX finds them (`latex_tree`); every numbered caption is a unit
  (`latex_floats`), with its label, sub-figures and graphics; its caption and the sentences that
  cite it are cleaned to text (`latex_text`).
- A unit whose graphics are PNG/JPG/PDF/EPS files gets them as they are (PDF rendered and EPS
  through Ghostscript at `dpi`); sub-figures with their own sub-captions become one record each.
- A unit drawn by TeX (TikZ, pgfplots, tabular, algorithm), one whose file is missing or cannot be
  converted, and one made of several files without sub-captions is cropped from a PDF of the paper,
  found by its caption there (`pdf_regions`): the paper compiled with latexmk (`tex`); when it does
  not compile (or `compile=False`), the PDF the user gave (`pdf=`), else a PDF beside the main file
  with its name (arXiv archives ship none). A PDF crop is used only when the caption printed there
  matches the source's, so a stale PDF never lends a wrong picture.
- The text inside a figure comes from the text layer where there is one (a PDF graphic, a figure
  cropped from the PDF), read as `curate pdf` reads it (`pdf.figure_text`), completed by the OCR
  engine (`ocr`) where labels are drawn as paths; raster graphics are left to curation's OCR.
One bad file or figure rejects that figure only, with a typed reason; the paper goes on.
"""

from __future__ import annotations

import gzip
import logging
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

from scitune.contracts import FigureRecord, Rejection
from scitune.sources.citations import Citations, read_citations
from scitune.sources.latex_floats import _COUNTER_COMMAND, Unit, parse_units
from scitune.sources.latex_text import (
    CITE,
    citing_sentences,
    clean,
    paragraphs_of,
    unit_is_cited,
)
from scitune.sources.latex_tree import (
    collect_macros,
    expand_macros,
    graphics_dirs,
    preamble_and_body,
    read_tree,
)
from scitune.sources.paper_text import caption_key, similarity, strip_caption_label

log = logging.getLogger(__name__)

DATASET = "latex"
_IMAGE_EXTENSIONS = ("", ".pdf", ".png", ".jpg", ".jpeg", ".eps", ".ps", ".PNG", ".JPG", ".PDF", ".EPS")
_TYPES = {"Table": "table", "Algorithm": "algorithm"}


class LatexError(ValueError):
    """A problem in one paper's source (reported, the batch goes on)."""

    kind = "unreadable_paper"


class GraphicsError(ValueError):
    kind = "unreadable_graphics"


def main_file(folder: Path) -> Path:
    """The .tex file with `\\documentclass` and `\\begin{document}` (the shallowest, then by name)."""
    candidates = [p for p in sorted(folder.rglob("*.tex"), key=lambda p: (len(p.parts), p.name))
                  if "\\documentclass" in p.read_text(errors="replace")]
    if not candidates:
        raise LatexError("no .tex file with \\documentclass")
    with_document = [p for p in candidates if re.search(r"^[^%\n]*\\begin\{document\}", p.read_text(errors="replace"),
                                                        re.MULTILINE)]
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


def find_graphic(name: str, dirs: list[Path], root: Path) -> Path | None:
    for folder in dirs:
        for extension in _IMAGE_EXTENSIONS:
            candidate = folder / (name + extension)
            if candidate.is_file() and candidate.resolve().is_relative_to(root.resolve()):
                return candidate
    return None


def to_png(source: Path, target: Path, dpi: int) -> None:
    """PNG/JPG copied as PNG; PDF page 1 rendered at DPI (pypdfium2); EPS/PS through Ghostscript."""
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = source.suffix.lower()
    if suffix == ".pdf":
        import pypdfium2 as pdfium

        try:
            document = pdfium.PdfDocument(str(source))
        except Exception as error:  # pdfium's one error type for damaged files
            raise GraphicsError(f"{source.name}: unreadable PDF ({error})") from None
        try:
            document[0].render(scale=dpi / 72).to_pil().convert("RGB").save(target)
        finally:
            document.close()
    elif suffix in (".eps", ".ps"):
        if shutil.which("gs") is None:
            error = GraphicsError(f"{source.name}: EPS needs Ghostscript (apt-get install ghostscript)")
            error.kind = "ghostscript_missing"
            raise error
        subprocess.run(["gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-dEPSCrop", "-sDEVICE=png16m",
                        "-dTextAlphaBits=4", "-dGraphicsAlphaBits=4", f"-r{dpi}", f"-sOutputFile={target}",
                        str(source)], check=True, timeout=120, capture_output=True)
    else:
        from PIL import Image

        with Image.open(source) as image:
            image.convert("RGB").save(target)


def figure_type_evidence(unit: Unit) -> str | None:
    if unit.kind in _TYPES:
        return _TYPES[unit.kind]
    body = unit.content
    if "\\begin{axis}" in body or "\\addplot" in body:
        if "ybar" in body or "xbar" in body:
            return "bar chart"
        if "only marks" in body:
            return "scatter plot"
        return "graph plot"
    if "\\begin{tikzpicture}" in body and "\\node" in body and ("->" in body or "\\draw" in body):
        return "node diagram"
    if not unit.panels and re.search(r"\\begin\{(equation|align|gather)\*?\}", body):
        return "equation"
    return None


def latex_reader(source: Path, out_dir: Path, dpi: int = 150, compile: bool = True, pdf: Path | None = None,
                 main: str | None = None, ocr=None) -> tuple[list[FigureRecord], list[Rejection], int]:
    """`curate_papers` reader: records, rejections and (for LaTeX) no page count."""
    records, rejected = read_latex_paper(source, out_dir, dpi=dpi, compile=compile, pdf=pdf, main=main, ocr=ocr)
    return records, rejected, 0


class _PdfSource:
    """Regions of the PDF the drawn figures are cropped from, found on first use: the paper compiled
    here, and the PDF beside the source (or given) for what the compiled one lacks (a compile with
    stand-ins for missing packages may stop pages early)."""

    def __init__(self, folder: Path, main: Path, compile: bool, given: Path | None, notes: list[tuple[str, str]]):
        self.folder, self.main, self.compile, self.given, self.notes = folder, main, compile, given, notes
        self.document = None
        self.layout = None
        self.labels: dict[str, tuple[str, int]] = {}
        self.kinds: dict[str, str] = {}
        self.aux: Path | None = None
        self.compiled = None
        self.tried = False
        self.fallback = None  # (document, layout) of the PDF beside the source, when a compiled one came first

    def open(self):
        if self.tried:
            return self.layout
        self.tried = True
        path = None
        if self.compile:
            from scitune.sources.tex import TexFailed, TexUnavailable, compile_paper

            try:
                self.compiled = compile_paper(self.folder, self.main)
                path = self.compiled.pdf
                self.labels, self.kinds, self.aux = self.compiled.labels, self.compiled.kinds, self.compiled.aux
                if self.compiled.stubs:
                    self.notes.append(("compiled_with_stubs", "compiled with empty stand-ins for packages missing "
                                       f"here: {', '.join(self.compiled.stubs)}"))
            except (TexUnavailable, TexFailed) as error:
                self.notes.append((error.kind, str(error)))
        if path is None:
            path = self._beside()
        if path is None:
            return None
        self.document, self.layout = self._read(path)
        return self.layout

    def _beside(self) -> Path | None:
        beside = self.main.with_suffix(".pdf")
        path = self.given if self.given is not None else beside if beside.is_file() else None
        if path is not None:
            self.notes.append(("pdf_fallback", f"figures drawn by TeX taken from {path.name} (verified by caption)"))
        return path

    def _read(self, path: Path):
        import pypdfium2 as pdfium

        from scitune.sources.pdf import layout_paper

        document = None
        try:
            document = pdfium.PdfDocument(str(path))
            return document, layout_paper(document, 200)
        except Exception as error:  # a damaged PDF only costs the drawn figures
            self.notes.append(("unreadable_pdf", f"{path.name}: {type(error).__name__}: {error}"))
            return document, None

    def _layouts(self):
        if self.open() is not None:
            yield self.document, self.layout
        if self.compiled is not None:
            if self.fallback is None:
                path = self._beside()
                self.fallback = self._read(path) if path is not None else (None, None)
            if self.fallback[1] is not None:
                yield self.fallback

    def find(self, unit: Unit, caption: str):
        """(document, region, page) of UNIT, the region whose caption reads like CAPTION and the page
        it is on; None if no PDF has it."""
        from scitune.sources.pdf_regions import caption_text

        key = caption_key(caption, latex=True)
        for document, layout in self._layouts():
            best, best_score = None, 0.0
            for region in layout.regions:
                if region.caption.kind != unit.kind or region.box is None:
                    continue
                printed = caption_key(strip_caption_label(caption_text(region.caption)))
                score = similarity(key, printed)
                if len(printed) >= 60 and len(key) > 2 * len(printed):
                    # The caption's opening, when the PDF reader stopped where the caption goes on in
                    # smaller type (a \footnotesize list of sources inside \caption).
                    score = max(score, similarity(key[:len(printed)], printed) - 0.1)
                if region.caption.number == unit.number:
                    score += 0.2
                if score > best_score:
                    best, best_score = region, score
            if best_score >= 0.8:
                return document, best, layout.pages[best.caption.page - 1]
        return None

    def close(self):
        for document in (self.document, self.fallback[0] if self.fallback else None):
            if document is not None:
                document.close()
        if self.compiled is not None:
            self.compiled.cleanup()


def read_latex_paper(source: Path, out_dir: Path, paper_id: str | None = None, dpi: int = 150,
                     compile: bool = True, pdf: Path | None = None, main: str | None = None, ocr=None
                     ) -> tuple[list[FigureRecord], list[Rejection]]:
    """Every numbered figure, table and algorithm of one paper as FigureRecords (images written to
    OUT_DIR/images/PAPER/), and every problem as a Rejection naming the paper and the figure.
    MAIN names the main .tex (relative to the source folder) when the folder holds several. OCR: an
    engine (or its name) completing the text layers of PDF figures (None: the text layers alone)."""
    from scitune.sources.pdf import resolve_engine

    source = Path(source)
    out_dir = Path(out_dir)
    paper = paper_id or re.sub(r"(\.tar)?\.(gz|tgz|tar|tex)$", "", source.name)
    records: list[FigureRecord] = []
    rejected: list[Rejection] = []

    def reject(item: str, kind: str, reason: str) -> None:
        rejected.append(Rejection(id=f"{paper}-{item}", dataset=DATASET, kind=kind, reason=reason, where=source.name))

    try:
        folder = unpack(source, out_dir / "sources" / paper)
        main = folder / main if main else main_file(folder)
        if not main.is_file():
            raise LatexError(f"main file {main.name} not found")
        tree = read_tree(main, folder)
    except (LatexError, OSError, tarfile.TarError, EOFError) as error:
        reject("paper", "unreadable_paper", str(error))
        return records, rejected
    for problem in tree.missing:
        reject("paper", "missing_input", problem)
    preamble, body = preamble_and_body(tree.text)
    macros = collect_macros(preamble, main.parent)
    for name, macro in collect_macros(body).items():  # defined after \begin{document}, used in captions
        macros.setdefault(name, macro)
    structural = {k: m for k, m in macros.items() if _COUNTER_COMMAND.search(m.body)}
    units, problems = parse_units(expand_macros(body, structural), expand_macros(preamble, structural))
    for problem in problems:
        reject("paper", "float_problem", problem)
    notes: list[tuple[str, str]] = []
    pdf_source = _PdfSource(folder, main, compile, Path(pdf) if pdf else None, notes)
    dirs = graphics_dirs(tree.text, main.parent)
    try:
        needs_pdf = [u for u in units if _needs_pdf(u, dirs, folder)]
        # A caption that cites the bibliography prints what BibTeX made of it: the .aux of a compile,
        # unless the authors shipped their .aux or .bbl.
        shipped = main.with_suffix(".aux").is_file() or main.with_suffix(".bbl").is_file()
        cites = any(CITE.search(unit.caption) for unit in units)
        if (needs_pdf or cites and not shipped) and pdf_source.open() is not None:
            _apply_aux(units, pdf_source.labels)
        citations = read_citations(preamble, pdf_source.aux, main)
        printed = _printed(units, pdf_source.labels, pdf_source.kinds)
        paragraphs = citing_sentences(paragraphs_of(body), macros, printed, citations)
        engine = resolve_engine(ocr)
        for unit in units:
            records += _unit_records(unit, paper, out_dir, dpi, dirs, folder, macros, printed, citations,
                                     paragraphs, pdf_source, reject, engine)
    finally:
        pdf_source.close()
    for kind, note in notes:
        if kind != "pdf_fallback" or any(r.kind == kind for r in rejected):
            reject("paper", kind, note)
    return records, rejected


def _printed(units: list[Unit], labels: dict[str, tuple[str, int]], kinds: dict[str, str]
             ) -> dict[str, tuple[str, str]]:
    """label → (what it names, its number) as TeX prints them: the .aux's numbers where the paper
    was compiled (a section's 'V-A', with 'Section' where cleveref says so), each figure's own, and a
    sub-figure's number with its letter ('1a', subcaption's `\\ref`)."""
    printed = {label: (kinds.get(label, ""), number) for label, (number, _) in labels.items()}
    letters = "abcdefghijklmnopqrstuvwxyz"
    for unit in units:
        if unit.label:
            printed[unit.label] = (unit.kind, unit.number)
        for index, label in enumerate(unit.sublabels[:len(letters)]):
            number = labels.get(label, ("", 0))[0]
            printed[label] = (unit.kind, number if number.startswith(unit.number) and number != unit.number
                              else unit.number + letters[index])
    return printed


def _apply_aux(units: list[Unit], labels: dict[str, tuple[str, int]]) -> None:
    """TeX's own numbers (a \\thefigure of "S1", Roman tables) from the .aux, kind by kind, when they
    name each unit once (a class that mislabels its tables leaves the counted numbers)."""
    for kind in {unit.kind for unit in units}:
        mine = [unit for unit in units if unit.kind == kind]
        numbers = [labels[u.label][0] if u.label in labels and labels[u.label][0] else u.number for u in mine]
        if len(set(numbers)) == len(numbers):
            for unit, number in zip(mine, numbers):
                unit.number = number


def _needs_pdf(unit: Unit, dirs: list[Path], folder: Path) -> bool:
    files = [p for p in unit.panels if p.file]
    if not files or unit.drawn and not files:
        return True
    if len(files) > 1 and not any(p.caption for p in files):
        return True
    return any(find_graphic(p.file, dirs, folder) is None for p in files)


def _unit_records(unit: Unit, paper: str, out_dir: Path, dpi: int, dirs: list[Path], folder: Path, macros, printed,
                  citations: Citations, paragraphs, pdf_source: _PdfSource, reject, engine=None) -> list[FigureRecord]:
    name = f"{unit.kind} {unit.number}"
    caption = clean(unit.caption, macros, printed, citations)
    if not caption:
        reject(unit.figure_id, "no_caption", f"{name} has an empty caption")
        return []
    citing = [(text, [s for s, labels in sentences if unit_is_cited(s, labels, unit.labels, unit.kind, unit.number)])
              for text, sentences in paragraphs]
    mentions = [s for _, found in citing for s in found]
    cited_paragraphs = [text for text, found in citing if found]

    def record(panel_id: str, image: str, text: str, ocr: tuple[list[str], str | None] | None = None) -> FigureRecord:
        text_lines, read_from = ocr or ([], None)
        return FigureRecord(id=f"{paper}-{panel_id}", image=image, figure_type=figure_type_evidence(unit),
                            caption=text, mentions=mentions, paragraphs=cited_paragraphs, ocr=text_lines, ocr_from=read_from,
                            source={"dataset": DATASET, "paper_id": paper, "figure_id": panel_id,
                                    "license": "the paper's own"})

    files = [p for p in unit.panels if p.file]
    resolved = [(p, find_graphic(p.file, dirs, folder)) for p in files]
    full = f"{name}: {caption}"
    if _needs_pdf(unit, dirs, folder):
        found = pdf_source.find(unit, caption)
        if found is not None:
            from scitune.sources.pdf import crop, region_text

            document, region, page = found
            image = f"images/{paper}/{unit.figure_id}.png"
            crop(document, region.caption.page, region.box, dpi, out_dir / image)
            try:
                ocr = region_text(document, region, page, dpi, out_dir / image, engine)
            except Exception as error:  # noqa: BLE001 - a text layer pdfium cannot read costs the text only
                log.warning("%s: text layer unreadable: %s", unit.figure_id, error)
                ocr = None
            return [record(unit.figure_id, image, full, ocr)]
        missing = [p.file for p, found in resolved if found is None]
        if missing:
            reject(unit.figure_id, "missing_graphics", f"{name}: graphics file(s) {missing} not found"
                   + ("" if pdf_source.layout is None else ", and the figure is not in the PDF"))
            return []
        if not files:
            why = "no PDF of the paper (TeX not installed, or the paper did not compile; give --pdf)" \
                if pdf_source.layout is None else "its caption was not found in the paper's PDF"
            reject(unit.figure_id, "drawn_in_latex", f"{name} is drawn by TeX ({unit.drawn or 'no image file'}): {why}")
            return []
    out = []
    letters = "abcdefghijklmnopqrstuvwxyz"
    for index, (panel, found) in enumerate(resolved):
        panel_id = unit.figure_id + (letters[index] if len(resolved) > 1 else "")
        image = f"images/{paper}/{panel_id}.png"
        try:
            to_png(found, out_dir / image, dpi)
        except (GraphicsError, OSError, subprocess.SubprocessError, ValueError) as error:
            reject(panel_id, getattr(error, "kind", "unreadable_graphics"), f"{name}: {error}")
            continue
        text = full
        if panel.caption and len(resolved) > 1:
            text += f" ({letters[index]}) {clean(panel.caption, macros, printed, citations)}"
        ocr = None
        if found.suffix.lower() == ".pdf":
            from scitune.sources.pdf import graphic_text

            try:
                ocr = graphic_text(found, dpi, engine, out_dir / image)
            except Exception as error:  # noqa: BLE001 - a text layer pdfium cannot read costs the text only
                log.warning("%s: text layer unreadable: %s", found.name, error)
        out.append(record(panel_id, image, text, ocr))
    return out


def clean_text(text: str, labels: dict[str, str], macros: dict | None = None) -> str:
    """LaTeX → readable text with LABELS ({label: 'Figure 2'}) for the references (kept for callers
    of the earlier API; `latex_text.clean` is the full form)."""
    printed = {label: tuple(value.split(" ", 1)) if " " in value else ("", value) for label, value in labels.items()}
    return clean(text, macros or {}, printed)
