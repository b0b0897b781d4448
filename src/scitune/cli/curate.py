"""Records → instructions: `scitune curate scienceqa|figures|latex|pdf` and `scitune ocr`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scitune.cli.apps import app, curate_app
from scitune.cli.common import Overrides, console, setup_logging, tracked, user_errors, with_rate

ProblemsPath = Annotated[list[Path], typer.Option(
    "--problems", help="problems.json (official), a parquet file/folder (Hugging Face), llava_{split}_*.json or "
    "Problem JSONL; repeat to combine sources.", exists=True)]


@curate_app.command("scienceqa")
@user_errors
def curate_scienceqa(
    problems: ProblemsPath,
    output_dir: Annotated[Path, typer.Option(help="Folder for {train,val,test}.jsonl, problems_*.jsonl, "
                                                   "rejected.jsonl, manifest.json.")],
    splits: Annotated[Path | None, typer.Option(
        "--splits", help="pid_splits.json: each role takes that official pid list.", exists=True)] = None,
    image_root: Annotated[Path | None, typer.Option(help="Folder the problems' image paths are relative to "
                                                         "(recorded in the manifest).")] = None,
    config: Annotated[Path | None, typer.Option(help="A YAML file of QuestionCurationConfig fields.", exists=True)]
    = None,
    overrides: Overrides = None,
) -> None:
    """ScienceQA problems → LLaVA conversation JSONL per split in any of the ScienceQA paper's prompt
    formats (--set format=QCM-LEPA --set train_split=train --set test_split=test --set val_split=val)."""
    import yaml

    from scitune.config import QuestionCurationConfig, apply_overrides
    from scitune.curate.questions import curate_questions

    data = yaml.safe_load(config.read_text()) if config else {}
    cfg = apply_overrides(QuestionCurationConfig, data or {}, list(overrides or []))
    manifest = curate_questions(problems, cfg, output_dir, splits, image_root)
    counts = ", ".join(f"{info['split']} {info['count']}" for info in manifest["files"].values())
    console.print(f"{counts} instructions ({cfg.format}) → {output_dir}; {manifest['rejected']} problems rejected "
                  f"({output_dir / 'rejected.jsonl'})")


def _engine(name: str) -> str:
    if name not in ("local", "ray"):
        raise typer.BadParameter(f"--engine must be local or ray, not {name!r}")
    if name == "ray":
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise ValueError("--engine ray needs Ray: pip install 'scitune\\[ray]' (or 'ray\\[data]')")
    return name


Engine = Annotated[str, typer.Option(
    help="local: this machine (papers: a process pool); ray: Ray Data, a local instance or the cluster at "
         "--ray-address (pip install 'scitune\\[ray]').")]
RayAddress = Annotated[str | None, typer.Option(
    help="--engine ray: join this Ray cluster (e.g. auto, or ray://HEAD:10001); default: start a local instance.")]


@curate_app.command("figures")
@user_errors
def curate_figures(
    source: Annotated[Path, typer.Argument(help="A corpus file or folder (see --format).", exists=True)],
    output_dir: Annotated[Path, typer.Option(help="Folder for {train,val,test}.jsonl, records_*, rejected.jsonl, "
                                                   "quality.{json,md,png}, manifest.json.")],
    fmt: Annotated[str, typer.Option("--format", help="auto, scicap-challenge, scicap (per-figure JSONs), vistext, "
                                                       "arxivcap (parquet), folder (images + metadata), records "
                                                       "(FigureRecord JSONL).")] = "auto",
    image_root: Annotated[Path | None, typer.Option(
        help="Folder the records' image paths are relative to (default: the source's folder; ArxivCap: "
             "OUTPUT_DIR/images, where its images are written).")] = None,
    config: Annotated[Path | None, typer.Option(help="A YAML file of FigureCurationConfig fields.", exists=True)]
    = None,
    overrides: Overrides = None,
    tokenizer: Annotated[str, typer.Option(help="Tokenizer of the LM to train (folder, hub id or embedded name); "
                                                "target lengths are counted in its tokens.")]
    = "embedded:smollm2-135m-instruct",
    seed: Annotated[int, typer.Option(help="Seed of the prompt templates.")] = 0,
    ocr_cache: Annotated[Path | None, typer.Option(help="OCR cache folder, shared between runs "
                                                        "(default: OUTPUT_DIR/ocr_cache).")] = None,
    engine: Engine = "local",
    ray_address: RayAddress = None,
    workers: Annotated[int, typer.Option(help="--engine ray: OCR actors, CPU tasks and target builders per step "
                                              "(0: every CPU of the instance or cluster).")] = 0,
) -> None:
    """Figure records from any corpus → CTOM instructions split by paper, with a quality report.

    Settings (components, tasks, OCR engine, image checks, token limit, split fractions…) are the
    fields of FigureCurationConfig: set them in --config YAML or with --set, e.g. --set components=CT
    --set ocr=none. With --engine ray the same steps run on Ray Data (pip install 'scitune\\[ray]'),
    and the files are the same, line for line.
    """
    import yaml
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    from transformers import AutoTokenizer

    from scitune.config import FigureCurationConfig, apply_overrides
    from scitune.curate.corpus import FigureCuration, settled_collector
    from scitune.model.build import resolve_lm_name
    from scitune.sources.figures import detect_format, open_figures

    setup_logging(False)
    data = yaml.safe_load(config.read_text()) if config else {}
    cfg = apply_overrides(FigureCurationConfig, data or {}, list(overrides or []))
    fmt = detect_format(source) if fmt == "auto" else fmt
    items, root = open_figures(fmt, source, image_root, work_dir=output_dir)
    lm_tokenizer = AutoTokenizer.from_pretrained(resolve_lm_name(tokenizer))
    if _engine(engine) == "ray":
        from functools import partial

        from scitune.curate.ray_engine import curate_on_ray
        from scitune.sources.figures import read_figures

        reader = partial(read_figures, fmt, source, image_dir=root if fmt == "arxivcap" else None)
        tracked(f"curate figures ({fmt}) on Ray", None, lambda advance: curate_on_ray(
            cfg, output_dir, root, lm_tokenizer, seed, reader, ray_address, workers, ocr_cache, on_item=advance),
            "records/s")
        console.print((output_dir / "quality.md").read_text())
        console.print(f"→ {output_dir}")
        return
    curation = FigureCuration(cfg, output_dir, root, lm_tokenizer, seed=seed, ocr_cache=ocr_cache)
    with Progress(SpinnerColumn(), TextColumn("curate figures ({task.fields[fmt]})"),
                  TextColumn("{task.completed} records"), TimeElapsedColumn(), TextColumn("{task.fields[rate]}"),
                  console=console) as bar:
        task = bar.add_task("curate", total=None, fmt=fmt, rate="")
        with settled_collector():
            curation.run(items, on_item=with_rate(bar, task, unit="records/s"))
    console.print((output_dir / "quality.md").read_text())
    console.print(f"→ {output_dir}")


def _curate_papers(kind: str, sources: list[Path], output_dir: Path, workers: int, reader, engine: str = "local",
                   ray_address: str | None = None) -> None:
    from scitune.curate.papers import curate_papers, paper_sources

    papers = paper_sources(sources, kind)
    if not papers:
        raise ValueError(f"no {'PDF' if kind == 'pdf' else 'LaTeX'} paper found in the given paths")
    summary = tracked(f"curate {kind}", len(papers), lambda advance: curate_papers(
        papers, output_dir, reader, workers, on_paper=advance, engine=_engine(engine), ray_address=ray_address),
        "papers/s")
    console.print(f"{summary['papers']} papers → {summary['figures']} figure records, {summary['rejected']} "
                  f"problems reported" + (f", {summary['pages']} pages at {summary['pages_per_second']} pages/s"
                                          if kind == "pdf" else "") + f" → {output_dir / 'figures.jsonl'}")
    for reason, count in list(summary["rejected_by_kind"].items())[:8]:
        console.print(f"[yellow]![/yellow] {count} × {reason}")
    console.print(f"next: scitune curate figures {output_dir / 'figures.jsonl'} --image-root {output_dir} "
                  f"--output-dir DIR")


Sources = Annotated[list[Path], typer.Argument(help="Papers: files, archives, or folders of them.", exists=True)]
PaperOcr = Annotated[str, typer.Option(help="OCR engine completing the text layer of vector figures (labels drawn as "
                                            "paths), reading raster figures and scanned pages (curate pdf): figure, "
                                            "rapidocr, tesseract, figure+tesseract, or none for the text layer alone "
                                            "(about 5 times faster).")]
Workers = Annotated[int, typer.Option(help="Processes, or Ray tasks at a time with --engine ray (0: one per core).")]


@curate_app.command("latex")
@user_errors
def curate_latex(
    sources: Sources,
    output_dir: Annotated[Path, typer.Option(help="Folder for figures.jsonl, rejected.jsonl, images/, sources/.")],
    workers: Workers = 0,
    dpi: Annotated[int, typer.Option(help="Resolution of PDF/EPS graphics and of figures cropped from the "
                                          "compiled paper.")] = 150,
    no_compile: Annotated[bool, typer.Option("--no-compile", help="Do not compile the paper (figures drawn by TeX "
                                                                  "then come from --pdf or are reported).")] = False,
    pdf: Annotated[Path | None, typer.Option(help="The compiled PDF of the paper (one paper only): figures drawn "
                                                  "by TeX are cropped from it when their caption matches.",
                                             exists=True)] = None,
    main: Annotated[str | None, typer.Option(help="The main .tex file, relative to the paper's folder (default: "
                                                  "guessed: the file with \\documentclass nearest the top).")]
    = None,
    ocr: PaperOcr = "figure",
    engine: Engine = "local",
    ray_address: RayAddress = None,
) -> None:
    """LaTeX sources (a folder or an arXiv .tar.gz per paper) → FigureRecords: every numbered caption
    (several per float, \\captionof, sub-figures), included graphics (PDF rendered, EPS via
    Ghostscript), figures drawn by TeX cropped from the compiled paper, citing sentences; the text
    inside PDF figures from their text layer, completed by --ocr."""
    from functools import partial

    from scitune.sources.latex import latex_reader

    if pdf is not None and len(sources) != 1:
        raise ValueError("--pdf names the PDF of one paper: give one source with it")
    reader = partial(latex_reader, dpi=dpi, compile=not no_compile, pdf=pdf, main=main, ocr=ocr)
    _curate_papers("latex", sources, output_dir, workers, reader, engine, ray_address)


@curate_app.command("pdf")
@user_errors
def curate_pdf(
    sources: Sources,
    output_dir: Annotated[Path, typer.Option(help="Folder for figures.jsonl, rejected.jsonl, images/.")],
    workers: Workers = 0,
    dpi: Annotated[int, typer.Option(help="Resolution of the cropped figure images.")] = 150,
    ocr: PaperOcr = "figure",
    engine: Engine = "local",
    ray_address: RayAddress = None,
) -> None:
    """PDFs → FigureRecords: whole captions (Figure/Fig./Table/Algorithm), the region each belongs to
    cropped to PNG, the text inside it from the PDF's character layer (completed by --ocr where labels are
    drawn as paths; raster figures and scanned pages read by it), the body sentences that name it."""
    from functools import partial

    from scitune.sources.pdf import read_pdf_paper

    reader = partial(read_pdf_paper, dpi=dpi, ocr=ocr)
    _curate_papers("pdf", sources, output_dir, workers, reader, engine, ray_address)


@app.command()
@user_errors
def ocr(
    images: Annotated[list[Path], typer.Argument(help="Image files or folders of images.", exists=True)],
    engine: Annotated[str, typer.Option(help="figure (default: RapidOCR's ONNX models, installed by make, read the "
                                             "way figures are laid out), rapidocr (the library's own pipeline), "
                                             "tesseract (Debian tesseract-ocr), figure+tesseract.")] = "figure",
    output: Annotated[Path | None, typer.Option(help="JSONL of {image, lines, words with boxes}; default: print.")]
    = None,
    cache: Annotated[Path, typer.Option(help="Cache folder; an image already read (same bytes) is not read again.")]
    = Path.home() / ".cache" / "scitune" / "ocr",
) -> None:
    """Read the text inside figures: lines of the words the engine is sure of, and every word with its box
    and confidence."""
    import json
    from dataclasses import asdict

    from scitune.sources.ocr import OcrCache, lines, make_engine

    reader = make_engine(engine)
    if reader is None:
        raise typer.BadParameter("choose an engine")
    files = [f for path in images for f in ([path] if path.is_file() else sorted(
        p for p in path.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif",
                                                             ".tiff", ".webp")))]
    store = OcrCache(reader, cache)
    handle = output.open("w", encoding="utf-8") if output else None

    def read_all(advance) -> None:
        for path in files:
            try:
                words = store.read(path)
                row = {"image": str(path), "lines": lines(words, reader.target_confidence),
                       "words": [asdict(w) for w in words]}
            except ValueError as error:
                row = {"image": str(path), "error": str(error)}
            if handle:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            else:
                console.print(f"[bold]{path.name}[/bold]: " + (" | ".join(row.get("lines", [])) or
                                                               row.get("error", "(no text)")))
            advance(1)

    tracked("ocr", len(files), read_all)
    if handle:
        handle.close()
        console.print(f"{len(files)} images ({store.hits} from the cache) → {output}")
