"""How well `curate latex` and `curate pdf` recover figures, captions and mentions, and how fast,
on papers we wrote (sources/demo_papers.py), copied N times and curated with all cores.

    python benchmarks/paper_extraction.py [--copies 16]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from functools import partial
from pathlib import Path

from scitune.curate.papers import curate_papers
from scitune.sources.demo_papers import (
    LATEX_TRUTH,
    PDF_TRUTH,
    write_latex_paper,
    write_pdf_paper,
)
from scitune.sources.latex import latex_reader
from scitune.sources.pdf import read_pdf_paper


def score(out: Path, truth: dict, caption_of, copies: int) -> dict:
    records = [json.loads(line) for line in (out / "figures.jsonl").read_text().splitlines()]
    found = {}
    for record in records:
        found.setdefault(record["source"]["figure_id"], []).append(record)
    expected_mentions = sum(caption_of(v)[1] for v in truth.values()) * copies
    return {
        "figures expected": len(truth) * copies,
        "found": sum(len(found.get(k, [])) for k in truth),
        "extra": sum(len(v) for k, v in found.items() if k not in truth),
        "captions exact": sum(r["caption"] == caption_of(truth[k])[0] for k in truth for r in found.get(k, [])),
        "mentions expected": expected_mentions,
        "mentions recovered": sum(min(len(r["mentions"]), caption_of(truth[k])[1]) for k in truth
                                  for r in found.get(k, [])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=16)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    write_latex_paper(work / "latex" / "paper")
    write_pdf_paper(work / "pdf" / "paper.pdf")
    for n in range(1, args.copies):
        shutil.copytree(work / "latex" / "paper", work / "latex" / f"paper{n}")
        shutil.copy(work / "pdf" / "paper.pdf", work / "pdf" / f"paper{n}.pdf")
    rows = []
    latex = curate_papers(sorted((work / "latex").iterdir()), work / "out-latex", latex_reader)
    rows.append(("LaTeX", latex, score(work / "out-latex", LATEX_TRUTH, lambda v: v, args.copies)))
    pdf = curate_papers(sorted((work / "pdf").glob("*.pdf")), work / "out-pdf", partial(read_pdf_paper))
    rows.append(("PDF", pdf, score(work / "out-pdf", PDF_TRUTH, lambda v: v[1:], args.copies)))
    print(f"{args.copies} copies of each demo paper, all cores\n")
    print("| source | figures found / expected | extra | captions exact | mentions recovered / expected | "
          "papers/s | pages/s |")
    print("|---|---|---|---|---|---|---|")
    for name, summary, s in rows:
        print(f"| {name} | {s['found']} / {s['figures expected']} | {s['extra']} | {s['captions exact']} | "
              f"{s['mentions recovered']} / {s['mentions expected']} | {summary['papers'] / summary['seconds']:.1f} | "
              f"{summary['pages_per_second'] if name == 'PDF' else '-'} |")


if __name__ == "__main__":
    main()
