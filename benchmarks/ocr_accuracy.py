"""OCR engines on figures whose printed text is known: word recall, junk, seconds per figure.

Six sets, each with its own truth:
- real (default): the six SciCap figures of ../shared/data/scicap_figures, transcribed by hand in
  ocr_truth.json. Junk = words read that are not printed in the figure.
- pdf: every one-page figure PDF in the LaTeX sources of ../shared/data/papers (vector plots
  from matplotlib, MATLAB, pgfplots…), rendered with pypdfium2 at 400-900 px wide like SciCap's
  images; the truth is the PDF's own text layer. A check that what was tuned on the six real
  figures holds on figures it was not tuned on. The text layer is a rough truth: it misses text
  drawn as paths and symbols without a Unicode map, holds text the figure hides (tick labels of
  shared axes), splits sub- and superscripts from their base and signs from their numbers (so
  signs are dropped on both sides when scoring this set).
- figures: the pdf set's renderings scored against ocr_truth_figures.json beside this script:
  the words printed in each rendering, transcribed by eye with ocr_truth.json's conventions (its
  "_about" gives them). What the pdf set measures without the text layer's errors; signs count.
- pages: figure regions the papers reader crops from the 12 compiled papers at 150 dpi (vector
  figures, their text layer as the truth; dense, up to 1000 px wide), another check nothing was tuned on.
- crops: the pages set's crops scored against ocr_truth_pages.json beside this script, transcribed
  by eye from the crops with the same conventions: what the pages set measures without the text
  layer's errors (it glues subfigure labels to captions, splits [Ca/Fe] and sub- and superscripts).
- reader: the papers readers' own reading of the text inside figures: `scitune curate pdf` on the
  crops set's regions (scored against ocr_truth_pages.json) and `scitune curate latex` on the
  figures set's PDF graphics (against ocr_truth_figures.json); each with its text layer alone
  (hidden characters left out, math fonts decoded, rotated labels read along their baseline) and
  with that layer completed by each engine of --engines (`--ocr`: the words drawn as paths). Running
  text the crop cuts in is in the crops' truth but not the figure's, so the reader rightly leaves it
  out (about 90 words). Seconds: the whole PDF reader's CPU seconds per region (layout, crops,
  OCR); for the graphics, reading the text layer and OCR, not rendering.
- demo: figures the demo renderer draws with matplotlib; the truth is the text it drew (titles,
  labels, legends, not the ticks), so only recall and character accuracy mean something there.

Seconds are CPU seconds of this process per figure (one onnxruntime thread): the cost per core,
whatever else the machine runs. Score any OCR JSONL (`scitune ocr --output`) against the real
figures' truth with --score FILE.

    python benchmarks/ocr_accuracy.py [--set real|pdf|figures|pages|crops|reader|demo] [--engines figure,rapidocr,tesseract]
                                      [--ablations] [--lexicon] [--per-figure] [--keep DIR] [--score OCR.jsonl]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from scitune.sources.ocr import lines
from scitune.sources.ocr.score import WordScore, differences, normalise, score_words

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SCITUNE_TEST_DATA", ROOT.parent / "shared" / "data"))
THRESHOLDS = (0, 50, 60, 70, 80, 90)
HAND_TRUTH = Path(__file__).with_name("ocr_truth_figures.json")
PAGES_TRUTH = Path(__file__).with_name("ocr_truth_pages.json")
PLAIN = re.compile(r"^[A-Za-z0-9.,:;%()\[\]/'&+-]+$")
"""A printed word of Latin letters, digits and ordinary punctuation; the rest is math (Greek
letters, symbols, relations such as "γ=0"), most of which the recogniser has no characters for."""


def real_set(folder: Path) -> list[tuple[str, Path, str]]:
    truth = json.loads((folder / "ocr_truth.json").read_text(encoding="utf-8"))
    return [(name, folder / name, text) for name, text in sorted(truth.items()) if not name.startswith("_")]


def pdf_name(papers: Path, pdf: Path) -> str:
    """A figure PDF's name in the pdf and figures sets: its path under PAPERS without "src/"."""
    return str(pdf.relative_to(papers)).replace("/src/", "/")


def pdf_path(papers: Path, name: str) -> Path:
    """The figure PDF a pdf-set NAME stands for (pdf_name's inverse)."""
    paper, rest = name.split("/", 1)
    return papers / paper / "src" / rest


def layer_words(pdf: Path, min_words: int = 8, max_words: int = 150) -> tuple[list[str] | None, float, str]:
    """(the text-layer words of a one-page figure PDF, its width in points, ""), or (None, 0, why
    it is not in the pdf set).

    The text layer is an imperfect truth: figures whose layer spells words letter by letter (a
    third or more of its words one letter long: text set along a path, or turned in a way
    pdfplumber does not join) are left out, and counted by pdf_set.
    """
    import pdfplumber

    from scitune.sources.ocr.text_layer import text_layer_words

    with pdfplumber.open(pdf) as document:
        if len(document.pages) != 1:
            return None, 0.0, "not one page"
        page = document.pages[0]
        words, width = [w.text for w in text_layer_words(page)], float(page.width)
    if not min_words <= len(words) <= max_words:
        return None, 0.0, f"{len(words)} words, not {min_words}-{max_words}"
    if sum(len(w) == 1 and w.isalpha() for w in words) >= len(words) / 3:
        return None, 0.0, "letter by letter"
    return words, width, ""


def pdf_set(papers: Path, work: Path) -> list[tuple[str, Path, str]]:
    """One-page figure PDFs with a text layer (see layer_words), rendered 400-900 px wide (width
    chosen by a hash of the name) into WORK; the truth is the text layer.

    Minus signs are dropped on both sides when scoring this set (matplotlib's mathtext sets "−"
    apart from its number, so the layer has "−", "0.5" where the figure shows "−0.5").
    """
    import pypdfium2

    found, skipped = [], []
    for pdf in sorted(papers.glob("*/src/**/*.pdf")):
        try:
            words, points, why = layer_words(pdf)
        except Exception as error:  # noqa: BLE001 - a damaged PDF is not a figure for this benchmark
            print(f"pdf: skipped {pdf.name}: {type(error).__name__}: {error}", file=sys.stderr)
            continue
        if words is None:
            if why == "letter by letter":
                skipped.append(pdf.name)
            continue
        name = pdf_name(papers, pdf)
        image = work / (hashlib.sha1(name.encode()).hexdigest()[:12] + ".png")
        width = 400 + int(hashlib.sha1(pdf.name.encode()).hexdigest(), 16) % 501
        rendered = pypdfium2.PdfDocument(pdf)
        try:
            rendered[0].render(scale=width / points).to_pil().convert("RGB").save(image)
        finally:
            rendered.close()
        found.append((name, image, " ".join(words)))
    print(f"pdf: skipped {len(skipped)} figures whose text layer spells words letter by letter: {', '.join(skipped)}")
    return found


def hand_truth(path: Path = HAND_TRUTH) -> dict[str, str]:
    """A truth transcribed by eye (the figures set's by default): item name -> the words printed."""
    truth = json.loads(path.read_text(encoding="utf-8"))
    return {name: text for name, text in truth.items() if not name.startswith("_")}


def figures_set(papers: Path, work: Path) -> list[tuple[str, Path, str]]:
    """The pdf set's renderings of the figures transcribed by hand in ocr_truth_figures.json,
    scored against that transcription instead of the text layer."""
    return _with_hand_truth(pdf_set(papers, work), HAND_TRUTH, f"the pdf set of {papers}")


def crops_set(papers: Path, work: Path) -> list[tuple[str, Path, str]]:
    """The pages set's crops transcribed by hand in ocr_truth_pages.json, scored against that
    transcription instead of the text layer."""
    return _with_hand_truth(pages_set(papers, work), PAGES_TRUTH, f"the pages set of {papers}")


def _with_hand_truth(found: list[tuple[str, Path, str]], path: Path, where: str) -> list[tuple[str, Path, str]]:
    """The items of FOUND that the hand truth at PATH transcribes, with that truth; every item it
    names must be among them, or the set would shrink without anyone noticing."""
    truth = hand_truth(path)
    items = [(name, image, truth[name]) for name, image, _ in found if name in truth]
    missing = sorted(set(truth) - {name for name, _, _ in items})
    if missing:
        raise ValueError(f"{path.name}: {len(missing)} items are not in {where} (renamed or left out?): "
                         f"{', '.join(missing)}")
    return items


def pages_set(papers: Path, work: Path, dpi: int = 150) -> list[tuple[str, Path, str]]:
    """Figure regions cropped from the compiled papers' pages by the papers reader, at DPI; the truth
    is the text layer inside each region. Regions whose layer is unusable are skipped: control
    characters (fonts without a Unicode map) or words spelled letter by letter."""
    from scitune.sources.pdf import read_pdf_paper

    found = []
    for folder in sorted(p for p in papers.iterdir() if p.is_dir()):
        pdf = folder / "src" / json.loads((folder / "truth.json").read_text(encoding="utf-8"))["pdf"]
        records, _, _ = read_pdf_paper(pdf, work / folder.name, dpi=dpi, max_pages=40)
        for record in records:
            text = " ".join(record.ocr)
            tokens = text.split()
            broken = any(ord(c) < 32 for c in text) or sum(len(w) == 1 and w.isalpha() for w in tokens) >= len(tokens) / 3
            if record.figure_type != "table" and len(tokens) >= 8 and not broken:
                found.append((f"{folder.name}/{record.source.figure_id}", work / folder.name / record.image, text))
    return found


def reader_rows(papers: Path, work: Path, readers: list[tuple[str, object]], per_figure: bool) -> None:
    """The reader set: per reader (label, OCR engine or None for the text layer alone) the score of
    the papers readers' `ocr` lines, as a table: `curate pdf` on the regions ocr_truth_pages.json
    transcribes, `curate latex` on the PDF graphics ocr_truth_figures.json transcribes."""
    from scitune.sources.latex import to_png
    from scitune.sources.pdf import graphic_text, read_pdf_paper

    regions, graphics = hand_truth(PAGES_TRUTH), hand_truth(HAND_TRUTH)
    pdfs = {pdf_name(papers, pdf): pdf for pdf in sorted(papers.glob("*/src/**/*.pdf"))}
    print(f"reader: {len(regions)} regions ({sum(len(t.split()) for t in regions.values())} printed words), "
          f"{len(graphics)} PDF graphics ({sum(len(t.split()) for t in graphics.values())} printed words)")
    print("\n| papers reader | set | recall / junk | CPU s / figure |\n|---|---|---|---|")
    for index, (label, engine) in enumerate(readers):
        total, count, found = WordScore(0, 0, 0), 0, {}
        started = cpu_seconds()
        for folder in sorted(p for p in papers.iterdir() if p.is_dir()):
            pdf = folder / "src" / json.loads((folder / "truth.json").read_text(encoding="utf-8"))["pdf"]
            records, _, _ = read_pdf_paper(pdf, work / f"reader{index}" / folder.name, dpi=150, max_pages=40, ocr=engine)
            count += len(records)
            found.update({f"{folder.name}/{r.source.figure_id}": " ".join(r.ocr) for r in records})
        seconds = (cpu_seconds() - started) / max(1, count)
        missing = sorted(set(regions) - set(found))
        if missing:
            raise ValueError(f"{PAGES_TRUTH.name}: the papers reader no longer finds {', '.join(missing)}")
        _score_reader(label, "curate pdf: regions of the compiled papers (whole reader)", regions, found,
                      seconds, per_figure)
        found, seconds = {}, 0.0
        for number, name in enumerate(graphics):
            image = work / f"graphic{number}.png"
            if not image.exists():
                to_png(pdfs[name], image, 150)
            started = cpu_seconds()
            found[name] = " ".join(graphic_text(pdfs[name], 150, engine, image)[0])
            seconds += cpu_seconds() - started
        _score_reader(label, "curate latex: PDF graphics (text and OCR, not rendering)", graphics, found,
                      seconds / len(graphics), per_figure)


def _score_reader(label: str, kind: str, truth: dict[str, str], found: dict[str, str], seconds: float,
                  per_figure: bool) -> None:
    total = WordScore(0, 0, 0)
    for name, text in truth.items():
        total += score_words(text, found[name], True)
        if per_figure:
            missed, junk = differences(text, found[name], True)
            print(f"  {label} {name}: missed {missed}; junk {junk}")
    print(f"| {label} | {kind} | {total.recall:.1%} / {total.junk:.1%} | {seconds:.2f} |")


def demo_set(work: Path, per_type: int, size: int, contexts: dict) -> list[tuple[str, Path, str]]:
    from scitune.sources.demo import generate_corpus

    records, _ = generate_corpus(work, per_type, 0.0, size, seed=0)
    for r in records:  # what curation would pass as context: the text written about the figure
        contexts[work / r.image] = " ".join([r.caption, *r.mentions, *r.paragraphs])
    return [(r.image, work / r.image, " ".join(r.ocr)) for r in records if r.ocr]


def paper_text(papers: Path, name: str) -> str:
    """The LaTeX sources of the paper a figure belongs to: its captions and paragraphs, as a lexicon.
    (Not the compiled PDF, whose text layer holds the figure's own words.)"""
    folder = papers / name.split("/")[0] / "src"
    return " ".join(p.read_text(encoding="utf-8", errors="replace") for p in sorted(folder.rglob("*.tex")))


def _unfused(engine):
    """ENGINE with the OCR models run as the wheel ships them (ocr/fuse.py's baseline)."""
    from scitune.sources.ocr.rapid import DETECTION_MODEL, onnx_session, recogniser_file

    engine.detector.session = onnx_session(DETECTION_MODEL, fused=False)
    engine.recogniser.session = onnx_session(recogniser_file(engine.config.recogniser), fused=False)
    if engine.reread_recogniser is not None:
        engine.reread_recogniser.session = onnx_session(recogniser_file(engine.config.reread), fused=False)
    return engine


def engines(names: list[str], ablations: bool) -> list[tuple[str, object]]:
    """(label, engine) pairs; with ABLATIONS, the figure engine also without each of its ideas."""
    made = []
    for name in names:
        if name.split(":")[0] == "figure":  # figure:PP-OCRv6 names the recogniser
            from scitune.sources.ocr.detect import DetectorSettings
            from scitune.sources.ocr.figure import FigureOcr, FigureOcrSettings

            # figure:PP-OCRv6 reads every line with that recogniser alone; figure:A+B reads with A
            # and re-reads with B the lines A wrote outside the Latin script (the default: PP-OCRv4+PP-OCRv6).
            models = name.split(":")[1].split("+") if ":" in name else []
            base = FigureOcrSettings(**({"recogniser": models[0], "reread": (models + [""])[1]} if models else {}))
            made.append((name, FigureOcr(base)))
            if ablations:
                made += [
                    ("figure, PP-OCRv4 alone (no re-reading)", FigureOcr(replace(base, reread=""))),
                    ("figure, no layout rules", FigureOcr(replace(base, layout_rules=False))),
                    ("figure, no glyph candidates", FigureOcr(replace(base, glyph_candidates=False))),
                    ("figure, no ink-gap spaces", FigureOcr(replace(base, space_ratio=1e9))),
                    ("figure, no lexicon", FigureOcr(replace(base, lexicon=False))),
                    ("figure, detector at native size", FigureOcr(replace(
                        base, detector=DetectorSettings(target_text_height=1e-9, min_scale=1.0, max_scale=1.0)))),
                    ("figure, models as shipped (not fused)", _unfused(FigureOcr(base))),
                ]
        else:
            from scitune.sources.ocr import make_engine

            try:
                made.append((name, make_engine(name)))
            except ValueError as error:
                print(f"skipping {name}: {error}", file=sys.stderr)
    return made


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the tesseract command runs as one)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def run(engine, figures, lexicons: dict) -> tuple[list[list], float]:
    """Per figure the words read (with its lexicon, for an engine that takes one); mean CPU
    seconds per figure (after one warm-up read, with every model loaded)."""
    engine.read(figures[0][1])
    getattr(engine, "reread_recogniser", None)  # a model loaded on first need is loaded before the clock starts
    read, started = [], cpu_seconds()
    for _, path, _ in figures:
        lexicon = lexicons.get(path) if getattr(engine, "takes_lexicon", False) else None
        read.append(engine.read(path, lexicon) if lexicon is not None else engine.read(path))
    return read, (cpu_seconds() - started) / len(figures)


def by_kind(figures, read, threshold: float, signs: bool) -> str:
    """Recall of the plain printed words and of the math ones (PLAIN), at THRESHOLD."""
    printed, missed = Counter(), Counter()
    for (_, _, truth), words in zip(figures, read):
        printed.update("plain" if PLAIN.match(w) else "math" for w in normalise(truth, signs))
        lost, _ = differences(truth, " ".join(lines(words, threshold)), signs)
        missed.update("plain" if PLAIN.match(w) else "math" for w in lost)
    return ", ".join(f"{kind} words {1 - missed[kind] / printed[kind]:.1%} of {printed[kind]}"
                     for kind in ("plain", "math") if printed[kind])


def table(rows: list[tuple[str, list[WordScore], float]], thresholds) -> None:
    print("\n| engine, setting | " + " | ".join(f"conf ≥ {t}: recall / junk" for t in thresholds) + " | CPU s / figure |")
    print("|---|" + "---|" * len(thresholds) + "---|")
    for label, scores, seconds in rows:
        print(f"| {label} | " + " | ".join(f"{s.recall:.1%} / {s.junk:.1%}" for s in scores) + f" | {seconds:.2f} |")


def score_file(path: Path, folder: Path, min_confidence: float) -> None:
    """Score an OCR JSONL ({image, lines, words}) against the real figures' truth, per figure."""
    truth = {name: text for name, _, text in real_set(folder)}
    total = WordScore(0, 0, 0)
    for row in map(json.loads, path.read_text(encoding="utf-8").splitlines()):
        name = Path(row["image"]).name
        if name not in truth:
            continue
        if "words" in row:
            text = " ".join(w["text"] for w in row["words"] if w.get("confidence", 100) >= min_confidence)
        else:
            text = " ".join(row.get("lines", []))
        score = score_words(truth[name], text)
        total += score
        missed, junk = differences(truth[name], text)
        print(f"{name}: recall {score.recall:.1%} ({score.matched}/{score.printed}), junk {score.junk:.1%}; "
              f"missed {missed}; junk {junk}")
    print(f"all: recall {total.recall:.1%} ({total.matched}/{total.printed}), junk {total.junk:.1%} "
          f"({total.read - total.matched}/{total.read})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", choices=("real", "pdf", "figures", "pages", "crops", "reader", "demo"), default="real")
    parser.add_argument("--engines", default="figure,rapidocr,tesseract", help="comma-separated; figure:PP-OCRv6 is "
                        "the figure engine with that recogniser alone, figure:PP-OCRv4+PP-OCRv6 (the default) one "
                        "recogniser and another re-reading lines outside the Latin script (ocr/rapid.py RECOGNISERS)")
    parser.add_argument("--ablations", action="store_true", help="the figure engine without each of its ideas")
    parser.add_argument("--lexicon", action="store_true", help="give the figure engine a lexicon: the paper's "
                        "LaTeX text (pdf, figures, pages and crops sets), the record's caption and mentions (demo set); the real set has none")
    parser.add_argument("--per-figure", action="store_true", help="recall, junk and misses of each figure")
    parser.add_argument("--score", type=Path, help="score this OCR JSONL against ocr_truth.json instead")
    parser.add_argument("--min-confidence", type=float, default=0.0, help="for --score")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--keep", type=Path, help="render the figures into this folder and keep them "
                        "(default: a temporary folder)")
    parser.add_argument("--per-type", type=int, default=4, help="demo set: figures per type")
    parser.add_argument("--size", type=int, default=480, help="demo set: figure size in pixels")
    args = parser.parse_args()
    if args.score:
        score_file(args.score, args.data / "scicap_figures", args.min_confidence)
        return
    work = args.keep or Path(tempfile.mkdtemp())
    work.mkdir(parents=True, exist_ok=True)
    contexts: dict[Path, str] = {}
    if args.set == "reader":
        readers = [("text layer", None)] + [(f"text layer + {label}", engine) for label, engine
                                            in engines(args.engines.split(","), False)]
        reader_rows(args.data / "papers", work, readers, args.per_figure)
        return
    if args.set == "real":
        figures = real_set(args.data / "scicap_figures")
    elif args.set in ("pdf", "figures"):
        figures = (pdf_set if args.set == "pdf" else figures_set)(args.data / "papers", work)
        contexts = {path: paper_text(args.data / "papers", name) for name, path, _ in figures}
    elif args.set in ("pages", "crops"):
        figures = (pages_set if args.set == "pages" else crops_set)(args.data / "papers", work)
        contexts = {path: paper_text(args.data / "papers", name) for name, path, _ in figures}
    else:
        figures = demo_set(work, args.per_type, args.size, contexts)
    lexicons = {}
    if args.lexicon:
        from scitune.sources.ocr.lexicon import Lexicon

        built: dict[str, Lexicon] = {}  # one per distinct text (a paper's figures share theirs)
        lexicons = {path: built.setdefault(text, Lexicon.from_text(text)) for path, text in contexts.items()}
        print(f"lexicons: {len(built)}, {sum(map(len, built.values())) // max(1, len(built))} words on average")
    signs = args.set not in ("pdf", "pages")
    printed = sum(len(text.split()) for _, _, text in figures)
    print(f"{args.set}: {len(figures)} figures, {printed} printed words")
    rows = []
    for label, engine in engines(args.engines.split(","), args.ablations):
        read, seconds = run(engine, figures, lexicons)
        scores = []
        for threshold in THRESHOLDS:
            total = WordScore(0, 0, 0)
            for (_, _, truth), words in zip(figures, read):
                total += score_words(truth, lines(words, threshold), signs)
            scores.append(total)
        rows.append((label, scores, seconds))
        target = getattr(engine, "target_confidence", 0.0)
        print(f"{label}, recall by kind at confidence ≥ {target:g}: {by_kind(figures, read, target, signs)}")
        if args.per_figure:
            threshold = getattr(engine, "target_confidence", 0.0)
            print(f"\n{label} (confidence ≥ {threshold:g}):")
            for (name, _, truth), words in zip(figures, read):
                text = " ".join(lines(words, threshold))
                score = score_words(truth, text, signs)
                missed, junk = differences(truth, text, signs)
                print(f"  {name}: recall {score.recall:.0%}, junk {score.junk:.0%}; missed {missed}; junk {junk}")
        print(f"{label}: done", file=sys.stderr)
    table(rows, THRESHOLDS)


if __name__ == "__main__":
    main()
