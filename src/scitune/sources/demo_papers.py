"""Small papers of our own, written to disk, for tests and benchmarks of `curate latex` / `curate pdf`.

Each writer returns the ground truth: the figures a reader should find, their exact captions and
how many sentences mention each. Layouts cover subfigures, a figure cited from several paragraphs,
a figure never cited, a table, a caption split across lines, missing files and (PDF) two columns.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np
from matplotlib.figure import Figure
from PIL import Image


def _plot(path: Path, seed: int, kind: str = "line") -> None:
    rng = np.random.default_rng(seed)
    fig = Figure(figsize=(3, 2), dpi=80)
    ax = fig.subplots()
    if kind == "bar":
        ax.bar(["a", "b", "c"], rng.uniform(1, 5, 3))
    else:
        ax.plot(np.arange(10), rng.normal(size=10).cumsum())
    ax.set_xlabel("epoch")
    fig.savefig(path)


LATEX_MAIN = r"""\documentclass{article}
\usepackage{graphicx,subcaption}
\graphicspath{{figs/}}
\newcommand{\method}{SciNet}
% a comment that cites \ref{fig:never} and must not count
\begin{document}
\input{intro}
\section{Results}
As Figure~\ref{fig:loss} shows, \method{} converges within ten epochs. The loss falls quickly \cite{smith2020,lee2021}.

A paragraph without any reference to a figure.

We compare two panels in \cref{fig:panels}. Panel (a) is the baseline and panel (b) is \textbf{ours}.
\begin{figure}[t]
  \centering
  \includegraphics[width=\linewidth]{loss}
  \caption{Training loss of \method{} over $t$ epochs.}
  \label{fig:loss}
\end{figure}
\begin{figure*}
  \centering
  \begin{subfigure}{0.45\linewidth}\includegraphics{panel_a.pdf}\caption{Baseline}\end{subfigure}
  \begin{subfigure}{0.45\linewidth}\includegraphics{panel_b}\caption{Ours}\end{subfigure}
  \caption{Accuracy of the two
  methods per class.}\label{fig:panels}
\end{figure*}
\begin{figure}\includegraphics{never}\caption{A figure that no paragraph cites.}\label{fig:never}\end{figure}
\begin{table}\caption{Results per data set.}\label{tab:results}\begin{tabular}{cc}a&b\\\end{tabular}\end{table}
\begin{figure}\includegraphics{missing_file}\caption{Its file is missing.}\end{figure}
\begin{figure}\begin{tikzpicture}\begin{axis}\addplot[ybar] coordinates {(1,2)};\end{axis}\end{tikzpicture}
\caption{A bar chart drawn with pgfplots.}\end{figure}
Table~\ref{tab:results} lists the numbers behind Figure~\ref{fig:loss}.
\end{document}
"""

LATEX_INTRO = r"""\section{Introduction}
Scientific figures matter. In \autoref{fig:loss} we preview the main result.
"""

LATEX_TRUTH = {
    # figure id → (caption as extracted, sentences citing it)
    "Figure1": ("Figure 1: Training loss of SciNet over $t$ epochs.", 3),
    "Figure2a": ("Figure 2: Accuracy of the two methods per class. (a) Baseline", 1),
    "Figure2b": ("Figure 2: Accuracy of the two methods per class. (b) Ours", 1),
    "Figure3": ("Figure 3: A figure that no paragraph cites.", 0),
}
"""What `read_latex_paper` must find in the demo source; Table 1, Figure 4 (missing file) and
Figure 5 (pgfplots, no image file) are reported as rejections."""


def write_latex_paper(folder: Path) -> dict:
    folder = Path(folder)
    (folder / "figs").mkdir(parents=True, exist_ok=True)
    (folder / "main.tex").write_text(LATEX_MAIN)
    (folder / "intro.tex").write_text(LATEX_INTRO)
    _plot(folder / "figs" / "loss.png", 0)
    fig = Figure(figsize=(3, 2))
    fig.subplots().bar(["x", "y"], [1, 2])
    fig.savefig(folder / "figs" / "panel_a.pdf")
    _plot(folder / "figs" / "panel_b.png", 2, "bar")
    Image.new("RGB", (60, 40), (10, 120, 200)).save(folder / "figs" / "never.png")
    return LATEX_TRUTH


_BODY_LEFT = [
    "Scientific figures carry much of a paper's content.",
    "As shown in Figure 1, accuracy grows with training",
    "time for both models. We trained each model",
    "three times and report the mean.",
    "",
    "Table 1 lists the numbers for each data set.",
]
_BODY_RIGHT = [
    "The setup is photographed in Fig. 2. The camera",
    "faces the sample from above. Figure 1 also shows",
    "that the baseline saturates early.",
]

PDF_TRUTH = {
    # (page, caption as extracted, sentences citing it)
    "Figure1": (1, "Figure 1: Accuracy of both models over training time, averaged over three runs.", 2),
    "Figure2": (1, "Fig. 2. A photograph of the setup.", 1),
    "Table1": (1, "Table 1: Results per data set.", 1),
    "Figure3": (2, "Figure 3: A full-width plot that no sentence cites.", 0),
}
"""What `read_pdf_paper` must find in the demo PDF."""


def write_pdf_paper(path: Path) -> dict:
    """A two-page, two-column PDF drawn with matplotlib (vector text and plots, one raster image)."""
    from matplotlib.backends.backend_pdf import PdfPages

    rng = np.random.default_rng(0)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with matplotlib.rc_context({"pdf.fonttype": 42}), PdfPages(path) as pdf:
        page = Figure(figsize=(8.5, 11))
        for n, line in enumerate(_BODY_LEFT):
            page.text(0.08, 0.92 - n * 0.018, line, fontsize=9)
        ax = page.add_axes((0.10, 0.50, 0.34, 0.22))  # left column, vector plot
        ax.plot(np.arange(20), rng.normal(size=20).cumsum(), label="ours")
        ax.plot(np.arange(20), rng.normal(size=20).cumsum(), label="baseline")
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy")
        ax.legend()
        page.text(0.08, 0.445, "Figure 1: Accuracy of both models over training time,", fontsize=9)
        page.text(0.08, 0.427, "averaged over three runs.", fontsize=9)  # a caption split across lines
        for n, line in enumerate(_BODY_RIGHT):
            page.text(0.54, 0.92 - n * 0.018, line, fontsize=9)
        photo = page.add_axes((0.56, 0.55, 0.34, 0.2))  # right column, raster image
        photo.imshow(rng.uniform(size=(40, 60, 3)))
        photo.set_axis_off()
        page.text(0.54, 0.52, "Fig. 2. A photograph of the setup.", fontsize=9)
        page.text(0.54, 0.40, "Table 1: Results per data set.", fontsize=9)  # tables: caption above
        for row, cells in enumerate((("set", "acc"), ("A", "0.91"), ("B", "0.87"))):
            for col, cell in enumerate(cells):
                page.text(0.58 + col * 0.12, 0.37 - row * 0.02, cell, fontsize=9)
        page.add_artist(matplotlib.lines.Line2D([0.56, 0.82], [0.385, 0.385], color="black", lw=0.8))
        page.add_artist(matplotlib.lines.Line2D([0.56, 0.82], [0.305, 0.305], color="black", lw=0.8))
        page.text(0.54, 0.25, "Body text continues below the table.", fontsize=9)
        pdf.savefig(page)
        second = Figure(figsize=(8.5, 11))
        wide = second.add_axes((0.12, 0.55, 0.76, 0.3))  # full width across both columns
        wide.bar(np.arange(8), rng.uniform(1, 5, 8))
        wide.set_xlabel("class")
        second.text(0.08, 0.49, "Figure 3: A full-width plot that no sentence cites.", fontsize=9)
        second.text(0.08, 0.40, "Conclusions follow on this page.", fontsize=9)
        pdf.savefig(second)
    return PDF_TRUTH
