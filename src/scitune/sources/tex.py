"""Compile a paper's LaTeX source to PDF with a real TeX engine (latexmk), in a scratch copy.

Why: figures and tables drawn in LaTeX (TikZ, pgfplots, tabular, algorithm floats) have no image
file; their picture exists only once TeX has typeset them. The compiled PDF also gives the printed
number of every label (the .aux file), so "Figure S1" is known as TeX numbered it.

Rules:
- The engine follows the source: XeLaTeX when the paper loads `fontspec` (or a `% !TEX program`
  line asks for it), LuaLaTeX when asked, pdfLaTeX otherwise. latexmk runs BibTeX/Biber as needed.
- Interaction is off and errors do not stop the run (`-f`): a paper with an undefined macro still
  gives its pages. A package or class missing from this TeX installation is replaced by an empty
  stub and the run repeated (at most `max_stubs` times); each stub is reported, since the pages it
  touches may differ from the authors' PDF. AASTeX and REVTeX classes of other versions stand in
  for each other.
- The copy is compiled in a temporary folder under TeX Live's default restricted shell escape (only
  vetted helpers such as `repstopdf` for EPS figures run): the source cannot touch the user's files.
  Each run is bounded by `timeout` seconds.

Without `latexmk` (Debian: `latexmk texlive-latex-recommended …`, see the README), `compile_paper`
raises `TexUnavailable` with the packages to install; callers then fall back to a PDF the user gave.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

DEBIAN_PACKAGES = ("latexmk", "texlive-latex-base", "texlive-latex-recommended", "texlive-latex-extra",
                   "texlive-fonts-recommended", "texlive-pictures", "texlive-science", "texlive-publishers",
                   "texlive-plain-generic", "texlive-xetex", "texlive-bibtex-extra", "biber", "texlive-font-utils",
                   "cm-super", "ghostscript")
"""What `.ci/run` installs (apt-get --no-install-recommends) so that the papers under test compile."""

_MISSING = re.compile(r"! LaTeX Error: File `([^']+)\.(sty|cls)' not found")
_CLASS_STANDINS = {"aastex": ("aastex631", "aastex63", "aastex62", "aastex61"),
                   "revtex4": ("revtex4-2", "revtex4-1")}


class TexUnavailable(RuntimeError):
    """No TeX engine on this machine."""

    kind = "tex_unavailable"


class TexFailed(RuntimeError):
    """The engine ran but produced no PDF."""

    kind = "tex_failed"


@dataclass
class Compiled:
    """A compiled paper: its PDF, the printed number and page of every label, what was stubbed;
    its .aux (and .bbl beside it) until `cleanup`."""

    pdf: Path
    labels: dict[str, tuple[str, int]] = field(default_factory=dict)  # label → (printed number, page)
    kinds: dict[str, str] = field(default_factory=dict)  # label → what it names, where cleveref says
    stubs: list[str] = field(default_factory=list)
    errors: int = 0
    engine: str = "pdflatex"
    folder: Path | None = None
    aux: Path | None = None

    def cleanup(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def tex_available() -> bool:
    return shutil.which("latexmk") is not None and shutil.which("pdflatex") is not None


def choose_engine(main_text: str, folder: Path) -> str:
    """pdflatex, xelatex or lualatex, from a `% !TEX program` line or the packages loaded."""
    magic = re.search(r"%\s*!\s*TeX\s+(?:TS-)?program\s*=\s*(\w+)", main_text, re.IGNORECASE)
    if magic and magic.group(1).lower() in ("xelatex", "lualatex", "pdflatex"):
        return magic.group(1).lower()
    classes = re.findall(r"\\documentclass\s*(?:\[[^\]]*\])?\s*\{([^}]+)\}", main_text)
    local = " ".join(p.read_text(errors="replace") for name in classes for p in [folder / f"{name}.cls"]
                     if p.is_file())
    if re.search(r"\\(?:usepackage|RequirePackage)\s*(?:\[[^\]]*\])?\s*\{[^}]*\bfontspec\b", main_text + local):
        return "xelatex"
    return "pdflatex"


def aux_texts(aux: Path):
    """AUX's text, then that of every `\\include`d file's own .aux, named by `\\@input{…}`."""
    pending, seen = [aux], set()
    while pending:
        path = pending.pop(0)
        if not path.is_file() or path.resolve() in seen:
            continue
        seen.add(path.resolve())
        text = path.read_text(errors="replace")
        yield text
        pending += [path.parent / name for name in re.findall(r"\\@input\{([^}]+\.aux)\}", text)]


def parse_aux(aux: Path) -> dict[str, tuple[str, int]]:
    """`\\newlabel{fig:x}{{3}{5}…}` → {'fig:x': ('3', 5)} (hyperref's longer form too), with the labels
    of every `\\include`d file: LaTeX writes those to the file's own .aux."""
    labels = {}
    for text in aux_texts(aux):
        for match in re.finditer(r"\\newlabel\{([^}]+)\}\{\{((?:[^{}]|\{[^{}]*\})*)\}\{(\d+)\}", text):
            number = re.sub(r"\\[A-Za-z@]+\s*|[{}]", "", match.group(2)).strip()
            labels[match.group(1)] = (number, int(match.group(3)))
    return labels


_CREF_NAMES = {"section": "Section", "subsection": "Section", "subsubsection": "Section", "appendix": "Appendix",
               "subappendix": "Appendix", "chapter": "Chapter", "equation": "Equation", "figure": "Figure",
               "subfigure": "Figure", "table": "Table", "algorithm": "Algorithm", "theorem": "Theorem",
               "lemma": "Lemma", "definition": "Definition", "line": "Line", "enumi": "Item"}


def cref_kinds(aux: Path) -> dict[str, str]:
    """What each label names when the paper loads cleveref, from its `label@cref` lines
    (`\\newlabel{sec:x@cref}{{[section][1][5]V-A}…}` → {'sec:x': 'Section'}): what `\\Cref` prints
    before the number."""
    return {label: _CREF_NAMES.get(kind, kind.capitalize()) for text in aux_texts(aux)
            for label, kind in re.findall(r"\\newlabel\{([^}]+)@cref\}\{\{\[([A-Za-z]+)\]", text)}


def _stub(name: str, suffix: str, build: Path) -> str:
    """An empty package, or a stand-in class of the same family (else article) for a missing one."""
    target = build / f"{name}.{suffix}"
    if suffix == "cls":
        family = next((f for f in _CLASS_STANDINS if name.startswith(f)), None)
        standin = next((c for c in _CLASS_STANDINS.get(family, ()) if c != name and _kpsewhich(f"{c}.cls")),
                       "article")
        target.write_text(f"\\NeedsTeXFormat{{LaTeX2e}}\\ProvidesClass{{{name}}}\\LoadClassWithOptions{{{standin}}}\n")
        return f"{name}.cls (as {standin})"
    target.write_text(f"\\NeedsTeXFormat{{LaTeX2e}}\\ProvidesPackage{{{name}}}\n")
    return f"{name}.sty"


def _kpsewhich(name: str) -> bool:
    binary = shutil.which("kpsewhich")
    if binary is None:
        return False
    result = subprocess.run([binary, name], capture_output=True, text=True, timeout=30)
    return bool(result.stdout.strip())


def compile_paper(folder: Path, main: Path, timeout: float = 300, max_stubs: int = 8,
                  keep: Path | None = None) -> Compiled:
    """Compile MAIN (inside FOLDER) in a scratch copy; the PDF and .aux are left in KEEP (or a
    temporary folder the caller removes with `Compiled.cleanup`)."""
    if not tex_available():
        raise TexUnavailable("no TeX engine (latexmk, pdflatex) on this machine: apt-get install "
                             + " ".join(DEBIAN_PACKAGES) + "; or give the paper's PDF")
    folder, main = Path(folder), Path(main)
    work = Path(tempfile.mkdtemp(prefix="scitune-tex-"))
    build = work / "src"
    shutil.copytree(folder, build, symlinks=False,
                    ignore=shutil.ignore_patterns("*.aux", "*.fdb_latexmk", "*.fls", "*.synctex.gz", "*.log"))
    source = build / main.relative_to(folder)
    engine = choose_engine(source.read_text(errors="replace"), source.parent)
    out = work / "out"
    stubs: list[str] = []
    pdf = out / (source.stem + ".pdf")
    log_file = out / (source.stem + ".log")
    for _ in range(max_stubs + 1):
        shutil.rmtree(out, ignore_errors=True)
        # `\include{includes/x}` writes includes/x.aux under the output folder: TeX stops the whole
        # run ("I can't write on file") unless that folder exists there too.
        for sub in [p for p in source.parent.rglob("*") if p.is_dir()]:
            (out / sub.relative_to(source.parent)).mkdir(parents=True, exist_ok=True)
        command = ["latexmk", f"-{'pdf' if engine == 'pdflatex' else engine}", "-f", "-interaction=nonstopmode",
                   "-file-line-error", f"-outdir={out}", source.name]
        try:
            subprocess.run(command, cwd=source.parent, capture_output=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            shutil.rmtree(work, ignore_errors=True)
            raise TexFailed(f"{engine} ran longer than {timeout:g} s") from None
        text = log_file.read_text(errors="replace") if log_file.is_file() else ""
        missing = [m for m in _MISSING.findall(text) if not (source.parent / f"{m[0]}.{m[1]}").is_file()]
        if not missing:
            break
        for name, suffix in dict.fromkeys(missing):
            stubs.append(_stub(name, suffix, source.parent))
    if not pdf.is_file() or pdf.stat().st_size == 0:
        shutil.rmtree(work, ignore_errors=True)
        first_error = next((line for line in text.splitlines() if line.startswith("!") or ":error" in line), "")
        raise TexFailed(f"{engine} produced no PDF{': ' + first_error if first_error else ''}")
    errors = sum(1 for line in text.splitlines() if line.startswith("!") or re.match(r"^\S+:\d+: ", line))
    aux = out / (source.stem + ".aux")
    compiled = Compiled(pdf=pdf, labels=parse_aux(aux), kinds=cref_kinds(aux), stubs=stubs, errors=errors,
                        engine=engine, folder=work, aux=aux)
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(pdf, keep / pdf.name)
        compiled.pdf = keep / pdf.name
    log.info("compiled %s with %s: %d errors, stubs %s", main.name, engine, errors, stubs or "none")
    return compiled
