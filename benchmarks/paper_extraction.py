"""How well `curate latex` and `curate pdf` recover figures, tables, captions and citing sentences,
and how fast: on real papers (LaTeX source + the PDF of the same paper) and on our demo papers.

    python benchmarks/paper_extraction.py [--papers ../shared/data/papers] [--demo-copies 16]

Real papers are scored against benchmarks/papers_expected.json: per paper, every printed figure and
table (counted in the PDF by hand), its caption as the source gives it, and whether the body cites
it. A caption is exact when it equals the expected one after labels ('Figure 3:'), LaTeX markup,
math delimiters, spacing and case are dropped (`paper_text.caption_key`); a caption read from a PDF
is keyed as the plain text it is. A crop is checked when it is at least 64 px on
each side and, for a crop taken from a PDF, no running text, no running head or page number and no
other caption lies inside it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import tempfile
import time
from functools import partial
from pathlib import Path

from PIL import Image

from scitune.curate.papers import curate_papers
from scitune.sources.demo_papers import LATEX_TRUTH, PDF_TRUTH, write_latex_paper, write_pdf_paper
from scitune.sources.latex import latex_reader, read_latex_paper
from scitune.sources.paper_text import caption_key, strip_caption_label
from scitune.sources.pdf import read_pdf_paper

EXPECTED = Path(__file__).with_name("papers_expected.json")


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _matches(record_caption: str, expected: str, panel: str, printed: bool) -> bool:
    """The label is dropped from both sides (three expected captions carry 'Table I:'). A caption
    read from a PDF (PRINTED) is plain text: read as LaTeX, its '%' would start a comment and cut
    off the rest ('(in %) of the selected subset size …')."""
    got = caption_key(strip_caption_label(record_caption), latex=not printed)
    want = caption_key(strip_caption_label(expected), latex=True)
    return got == want or (panel != "" and got.startswith(want + panel))


def _prose(line, body_size: float) -> bool:
    """A line of sentences in body type (eight words or more, mostly lower-case words): running text,
    whatever the reader decided; inside a figure's crop it is a fault (a table's notes are not checked)."""
    words = line.text.split()
    wordy = [w for w in words if re.fullmatch(r"[a-z][a-z'’-]+[,.;:]?", w)]
    return abs(line.size - body_size) <= 0.6 and len(words) >= 8 and len(wordy) >= 0.6 * len(words)


def pdf_crop_problems(pdf: Path) -> dict[str, str]:
    """figure id → why its region is not clean (body text or another caption inside), from the layout."""
    import pypdfium2 as pdfium

    from scitune.sources.pdf import layout_paper
    from scitune.sources.pdf_layout import body_font_size
    from scitune.sources.pdf_regions import is_body

    document = pdfium.PdfDocument(str(pdf))
    try:
        layout = layout_paper(document, 200)
        size = body_font_size(layout.pages)
        problems = {}
        for region in layout.regions:
            if region.box is None:
                continue
            page = layout.pages[region.caption.page - 1]
            x0, top, x1, bottom = region.box
            mine = {id(line) for line in region.caption.lines}
            inside = [line for line in page.lines if id(line) not in mine and x0 - 1 <= line.x0 and line.x1 <= x1 + 1
                      and top - 1 <= line.top and line.bottom <= bottom + 1]
            caption_inside = [line for line in inside if re.match(r"(Figure|Fig\.|FIG\.|Table|TABLE)\s*\S+[.:]", line.text)]
            body_inside = [line for line in inside if is_body(line, size, x1 - x0) and line not in region.inside
                           or region.caption.kind == "Figure" and _prose(line, size)]
            head_inside = [line for line in inside if id(line) in page.furniture]
            if caption_inside or body_inside or head_inside:
                problems[region.caption.figure_id] = (caption_inside or body_inside or head_inside)[0].text[:60]
        return problems
    finally:
        document.close()


def score(records: list[dict], expected: dict, out: Path, problems: dict[str, str] | None,
          printed: bool = False) -> dict:
    by_id: dict[str, list[dict]] = {}
    for record in records:
        base = re.sub(r"(?<=\d)[a-z]$", "", record["source"]["figure_id"])
        by_id.setdefault(base, []).append(record)
    result = {"expected": len(expected), "found": 0, "exact": 0, "cited": 0, "mentioned": 0, "crops": 0,
              "crops_ok": 0, "misses": []}
    for figure_id, truth in expected.items():
        found = by_id.get(figure_id, [])
        result["cited"] += truth["cited"]
        if not found:
            result["misses"].append(f"{figure_id}: not found")
            continue
        result["found"] += 1
        panels = [r["source"]["figure_id"][len(figure_id):] for r in found]
        if all(_matches(r["caption"], truth["caption"], p, printed) for r, p in zip(found, panels, strict=True)):
            result["exact"] += 1
        else:
            result["misses"].append(f"{figure_id}: caption {found[0]['caption'][:70]!r}")
        if truth["cited"] and any(r["mentions"] for r in found):
            result["mentioned"] += 1
        elif truth["cited"]:
            result["misses"].append(f"{figure_id}: no citing sentence")
        for record in found:
            result["crops"] += 1
            with Image.open(out / record["image"]) as image:
                big = min(image.size) >= 64
            clean = problems is None or figure_id not in problems
            result["crops_ok"] += big and clean
            if not (big and clean):
                result["misses"].append(f"{figure_id}: crop {'too small' if not big else problems[figure_id]}")
    return result


def real_papers(folder: Path, work: Path) -> list[tuple[str, str, dict, float]]:
    expected = json.loads(EXPECTED.read_text())
    rows = []
    for name, paper in expected.items():
        src = folder / name / "src"
        if not src.is_dir():
            continue
        started = time.perf_counter()
        out = work / "latex" / name
        records, rejected = read_latex_paper(src, out, paper_id=name, main=paper["main"])
        latex_seconds = time.perf_counter() - started
        result = score([r.model_dump() for r in records], paper["figures"], out, None)
        result["rejected"] = [f"{r.id.split('-')[-1]} {r.kind}" for r in rejected]
        rows.append((name, "LaTeX", result, latex_seconds))
        started = time.perf_counter()
        out = work / "pdf" / name
        records, rejected, pages = read_pdf_paper(src / paper["pdf"], out)
        pdf_seconds = time.perf_counter() - started
        result = score([r.model_dump() for r in records], paper["figures"], out, pdf_crop_problems(src / paper["pdf"]),
                       printed=True)
        result["rejected"] = [f"{r.id.split('-')[-1]} {r.kind}" for r in rejected]
        result["pages"] = pages
        rows.append((name, "PDF", result, pdf_seconds))
    return rows


def print_real(rows) -> None:
    print("| paper | source | found / expected | captions exact | cited with sentences | crops checked | seconds |")
    print("|---|---|---|---|---|---|---|")
    totals: dict[str, dict] = {}
    for name, kind, r, seconds in rows:
        print(f"| {name} | {kind} | {r['found']} / {r['expected']} | {r['exact']} | {r['mentioned']} / {r['cited']} | "
              f"{r['crops_ok']} / {r['crops']} | {seconds:.1f} |")
        total = totals.setdefault(kind, {"found": 0, "expected": 0, "exact": 0, "mentioned": 0, "cited": 0,
                                         "crops_ok": 0, "crops": 0, "seconds": 0.0, "papers": 0})
        for key in ("found", "expected", "exact", "mentioned", "cited", "crops_ok", "crops"):
            total[key] += r[key]
        total["seconds"] += seconds
        total["papers"] += 1
    for kind, t in totals.items():
        print(f"| **total** | {kind} | {t['found']} / {t['expected']} ({100 * t['found'] / t['expected']:.1f}%) | "
              f"{t['exact']} ({100 * t['exact'] / t['expected']:.1f}%) | {t['mentioned']} / {t['cited']} "
              f"({100 * t['mentioned'] / max(1, t['cited']):.1f}%) | {t['crops_ok']} / {t['crops']} | "
              f"{t['seconds']:.1f} ({t['papers'] / t['seconds']:.2f} papers/s) |")
    print("\nQuality per paper (what was missed, what was rejected):")
    for name, kind, r, _ in rows:
        if r["misses"] or r["rejected"]:
            print(f"- {name} [{kind}]: " + "; ".join(r["misses"] + [f"rejected {x}" for x in r["rejected"]]))


def demo(copies: int) -> None:
    work = Path(tempfile.mkdtemp())
    write_latex_paper(work / "latex" / "paper")
    write_pdf_paper(work / "pdf" / "paper.pdf")
    for n in range(1, copies):
        shutil.copytree(work / "latex" / "paper", work / "latex" / f"paper{n}")
        shutil.copy(work / "pdf" / "paper.pdf", work / "pdf" / f"paper{n}.pdf")
    print(f"\nDemo papers, {copies} copies each, all cores:\n")
    print("| source | figures found / expected | captions exact | papers/s |")
    print("|---|---|---|---|")
    for name, folder, reader, truth, caption_of in (
            ("LaTeX", "latex", partial(latex_reader, compile=False), LATEX_TRUTH, lambda v: v[0]),
            ("PDF", "pdf", read_pdf_paper, PDF_TRUTH, lambda v: v[1])):
        sources = sorted((work / folder).iterdir())
        summary = curate_papers(sources, work / f"out-{folder}", reader)
        records = _records(work / f"out-{folder}" / "figures.jsonl")
        found = [r for r in records if r["source"]["figure_id"] in truth]
        exact = sum(r["caption"] == caption_of(truth[r["source"]["figure_id"]]) for r in found)
        print(f"| {name} | {len(found)} / {len(truth) * copies} | {exact} | {summary['papers'] / summary['seconds']:.1f} |")
    shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = Path(os.environ.get("SCITUNE_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--papers", type=Path, default=default / "papers")
    parser.add_argument("--demo-copies", type=int, default=16)
    args = parser.parse_args()
    if args.papers.is_dir():
        work = Path(tempfile.mkdtemp())
        print(f"Real papers in {args.papers} (LaTeX compiled with latexmk where figures are drawn by TeX)\n")
        print_real(real_papers(args.papers, work))
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"no real papers at {args.papers}: set SCITUNE_TEST_DATA or --papers")
    if args.demo_copies:
        demo(args.demo_copies)


if __name__ == "__main__":
    main()
