"""The `scitune` command line (Typer). Each command wraps one library entry point."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler

from scitune.config import RecipeError, load_recipe, shipped_recipe

app = typer.Typer(
    help="SciTune: scientific multimodal instruction tuning — curate, train in two stages, evaluate.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
console = Console()

ANSWER_PROMPTER = "\n###\nANSWER:"

Overrides = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a recipe field, e.g. --set stages.0.learning_rate=1e-3 (repeatable)."),
]


TwoPass = Annotated[bool, typer.Option(
    "--two-pass", help="LLaVA/SciTune answer prompter: generate the reasoning, then ask for 'ANSWER:' alone.")]


def _progress(label: str):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("{task.fields[rate]}"), console=console)


def _load_model(model: Path):
    from scitune.model.build import load_llava

    try:
        return load_llava(model)
    except (ValueError, OSError) as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None


def _with_rate(bar, task, unit: str = "items/s"):
    started = time.perf_counter()

    def advance(n: int) -> None:
        bar.advance(task, n)
        done = bar.tasks[0].completed
        bar.update(task, rate=f"{done / (time.perf_counter() - started):.2f} {unit}")

    return advance


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False)],
    )
    logging.getLogger("scitune").setLevel(logging.INFO)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # weight-loading bars; training and evaluation keep theirs


def _run_recipe(path: Path, overrides: list[str] | None, output_dir: Path | None, verbose: bool,
                until: str | None = None) -> None:
    _setup_logging(verbose)
    overrides = list(overrides or [])
    if output_dir is not None:
        overrides.append(f"output_dir={output_dir}")
    try:
        recipe = load_recipe(path, overrides)
    except RecipeError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    from scitune.pipeline import Run

    started = time.perf_counter()
    try:
        report = Run(recipe, console).execute(until)
    except ValueError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    if until:
        console.print(f"\n[bold green]Done[/bold green] up to {until} in {time.perf_counter() - started:.0f} s.")
        return
    console.print(f"\n[bold green]Done[/bold green] in {time.perf_counter() - started:.0f} s. "
                  f"Report: [link=file://{report.resolve()}]{report}[/link]")


@app.command()
def run(
    recipe: Annotated[Path, typer.Argument(help="A recipe YAML file (see recipes/).")],
    overrides: Overrides = None,
    output_dir: Annotated[Path | None, typer.Option(help="Run folder (default: the recipe's output_dir).")] = None,
    until: Annotated[str | None, typer.Option(help="Stop after this step (e.g. model:base, curate).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log library details.")] = False,
) -> None:
    """Run every step of a recipe: corpus, curate, evaluate, train each stage, evaluate, report.

    A rerun of an interrupted run continues from the last finished step.
    """
    _run_recipe(recipe, overrides, output_dir, verbose, until)


@app.command()
def train(
    recipe: Annotated[Path, typer.Argument(help="A recipe YAML file.")],
    stage: Annotated[str, typer.Option(help="The stage to train (its earlier steps must be done).")],
    overrides: Overrides = None,
    output_dir: Annotated[Path | None, typer.Option(help="Run folder (default: the recipe's output_dir).")] = None,
) -> None:
    """Train one stage of a run: the command to start under `torchrun` or `accelerate launch` for
    several GPUs or nodes (e.g. with configs/accelerate_fsdp.yaml); prepare the run first with
    `scitune run RECIPE --until model:base` (or up to the previous stage)."""
    _setup_logging(False)
    overrides = list(overrides or [])
    if output_dir is not None:
        overrides.append(f"output_dir={output_dir}")
    try:
        resolved = load_recipe(recipe, overrides)
        from scitune.pipeline import Run

        final = Run(resolved, console).train_only(stage)
    except (RecipeError, ValueError) as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    console.print(f"stage {stage} → {final}")


@app.command()
def quickstart(
    output_dir: Annotated[Path, typer.Option(help="Run folder.")] = Path("runs/quickstart"),
    overrides: Overrides = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log library details.")] = False,
) -> None:
    """The whole pipeline on the embedded default (SmolLM2-135M-Instruct + a small random SigLIP tower)
    and a generated demo corpus, in about ten minutes on 2 CPU cores."""
    _run_recipe(shipped_recipe("quickstart"), overrides, output_dir, verbose)


@app.command()
def validate(
    recipe: Annotated[Path, typer.Argument(help="A recipe YAML file.")],
    overrides: Overrides = None,
) -> None:
    """Load and validate a recipe without running it; prints the resolved recipe."""
    import yaml

    try:
        resolved = load_recipe(recipe, list(overrides or []))
    except RecipeError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    console.print(yaml.safe_dump(resolved.model_dump(mode="json"), sort_keys=False))


@app.command()
def predict(
    model: Annotated[Path, typer.Option(help="A Llava checkpoint folder (ours or any LlavaForConditionalGeneration).")],
    data: Annotated[Path, typer.Option(help="Instruction JSONL (LLaVA conversation format).", exists=True)],
    output: Annotated[Path, typer.Option(help="Predictions JSONL; an existing file is resumed, not overwritten.")],
    image_root: Annotated[Path, typer.Option(help="Folder the instructions' image paths are relative to.")] = Path("."),
    batch_size: Annotated[int, typer.Option(min=1, help="Prompts per batch; the answers do not depend on it.")] = 16,
    max_new_tokens: Annotated[int, typer.Option(min=1, help="Tokens generated per answer at most.")] = 96,
    system_prompt: Annotated[str, typer.Option(help="System message, as at training ('' for none).")] = "",
    two_pass: TwoPass = False,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N instructions (quick looks).")] = None,
) -> None:
    """Greedy answers for every instruction, appended to OUTPUT as they are produced."""
    from scitune.contracts import Instruction, Prediction, read_jsonl
    from scitune.evaluate.generate import done_ids, predict as generate

    _setup_logging(False)
    try:
        items = list(read_jsonl(data, Instruction))[:limit]
    except ValueError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    llava, processor = _load_model(model)
    todo = len([i for i in items if i.id not in done_ids(output)])
    with _progress("predict") as bar:
        task = bar.add_task("predict", total=todo, rate="")
        generate(llava, processor, items, image_root, output, system_prompt, str(model), max_new_tokens, batch_size,
                 on_batch=_with_rate(bar, task), answer_prompter=ANSWER_PROMPTER if two_pass else None)
    failed = sum(1 for prediction in read_jsonl(output, Prediction) if prediction.error)
    console.print(f"{todo} new predictions ({len(items) - todo} already there, {failed} failed) → {output}")


score_app = typer.Typer(help="Score predictions against a benchmark.", no_args_is_help=True)
evaluate_app = typer.Typer(help="Predict and score a model on a benchmark.", no_args_is_help=True)
app.add_typer(evaluate_app, name="evaluate")
curate_app = typer.Typer(help="Turn records into instruction JSONL.", no_args_is_help=True)
app.add_typer(score_app, name="score")
app.add_typer(curate_app, name="curate")

ProblemsPath = Annotated[list[Path], typer.Option(
    "--problems", help="problems.json (official), a parquet file/folder (Hugging Face) or llava_{split}_*.json; "
    "repeat to combine sources.", exists=True)]
SplitsPath = Annotated[Path | None, typer.Option(
    "--splits", help="pid_splits.json; with --split, score exactly that official pid list.", exists=True)]
SplitName = Annotated[str | None, typer.Option(
    help="train, val, test, trainval, minitrain, minival or minitest.")]


def _select_problems(problems: list[Path], splits: Path | None, split: str | None):
    from scitune.sources.scienceqa import iter_split, load_problems, merge, read_split_ids

    problem_set = merge([load_problems(path) for path in problems])
    if splits is not None:
        if split is None:
            raise typer.BadParameter("--splits needs --split")
        problem_set = problem_set.restrict(read_split_ids(splits, split))
        return problem_set, list(problem_set.problems.values())
    return problem_set, list(iter_split(problem_set, split))


@score_app.command("scienceqa")
def score_scienceqa(
    problems: ProblemsPath,
    predictions: Annotated[Path, typer.Option(
        help="Predictions JSONL ({id, text}), LLaVA answers JSONL, or official results JSON.", exists=True)],
    splits: SplitsPath = None,
    split: SplitName = None,
    policy: Annotated[str, typer.Option(help="Unparseable or missing answers: wrong (official), random, exclude.")]
    = "wrong",
    seed: Annotated[int, typer.Option(help="Seed of the 'random' policy.")] = 0,
    output_json: Annotated[Path | None, typer.Option(help="Write the full result as JSON.")] = None,
    output_md: Annotated[Path | None, typer.Option(help="Write the Markdown table beside the reference rows.")]
    = None,
) -> None:
    """ScienceQA accuracy per category (NAT SOC LAN TXT IMG NO G1-6 G7-12 Avg), per topic and skill."""
    import json

    from rich import box
    from rich.table import Table

    from scitune.evaluate.scienceqa import CATEGORIES, REFERENCE_ROWS, load_answers, markdown_table, score

    if policy not in ("wrong", "random", "exclude"):
        raise typer.BadParameter(f"policy must be wrong, random or exclude, not {policy}")
    problem_set, selected = _select_problems(problems, splits, split)
    result = score(selected, load_answers(predictions), policy=policy, seed=seed)
    result["rejected_problems"] = [f"{pid}: {reason}" for pid, reason in problem_set.rejected]
    result["problem_warnings"] = len(problem_set.warnings)
    table = Table(title=f"ScienceQA · {len(selected)} problems · policy {policy}", box=box.SIMPLE_HEAD,
                  padding=(0, 0, 0, 1), pad_edge=False)
    table.add_column("model", width=13, overflow="ellipsis", no_wrap=True)
    for category in CATEGORIES:  # numbers never wrap or get cut, whatever the terminal width
        table.add_column(category, justify="right", no_wrap=True, min_width=5)
    table.add_row("[bold]predictions", *("n/a" if result["accuracy"][c] is None else f"{result['accuracy'][c]:.2f}"
                                         for c in CATEGORIES))
    for name, values in REFERENCE_ROWS.items():
        table.add_row(f"[dim]{name}", *(f"[dim]{v:.2f}" for v in values))
    console.print(table)
    console.print(f"parse failures {result['parse_failures']} · missing {result['missing']} · invalid "
                  f"{result['invalid_predictions']} · malformed lines {result['malformed_lines']} · unknown pids "
                  f"{result['unknown_predictions']} · rejected problems {len(problem_set.rejected)}")
    for issue in result["issues"][:5]:
        console.print(f"[yellow]![/yellow] {issue}")
    if output_json:
        output_json.parent.mkdir(parents=True, exist_ok=True)
        output_json.write_text(json.dumps(result, indent=2))
    if output_md:
        output_md.parent.mkdir(parents=True, exist_ok=True)
        output_md.write_text(markdown_table(result, predictions.stem))


@evaluate_app.command("scienceqa")
def evaluate_scienceqa(
    model: Annotated[Path, typer.Option(help="A Llava checkpoint folder.")],
    problems: ProblemsPath,
    output_dir: Annotated[Path, typer.Option(help="Folder for predictions.jsonl, scores.json/.md, report.html.")],
    image_root: Annotated[Path, typer.Option(help="Folder the problems' image paths are relative to.")] = Path("."),
    splits: SplitsPath = None,
    split: SplitName = None,
    prompt_format: Annotated[str, typer.Option("--format", help="Prompt format the model was trained on.")]
    = "QCM-LEPA",
    batch_size: Annotated[int, typer.Option(min=1, help="Prompts per batch; the answers do not depend on it.")] = 16,
    max_new_tokens: Annotated[int, typer.Option(min=1, help="Tokens generated per answer at most.")] = 96,
    system_prompt: Annotated[str, typer.Option(help="System message, as at training ('' for none).")] = "",
    two_pass: TwoPass = False,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N problems (quick looks).")] = None,
    subset: Annotated[str | None, typer.Option(
        help="Only one category (NAT, SOC, LAN, TXT, IMG, NO, G1-6, G7-12) or the pids listed in a file.")] = None,
) -> None:
    """Greedy answers to ScienceQA problems (image and text-only together), then the official scores."""
    from scitune.evaluate.benchmarks import Generation, evaluate_scienceqa as run_benchmark
    from scitune.evaluate.scienceqa import markdown_table

    _setup_logging(False)
    _, selected = _select_problems(problems, splits, split)
    if subset:
        selected = _subset(selected, subset)
    selected = selected[:limit]
    llava, processor = _load_model(model)
    with _progress("scienceqa") as bar:
        task = bar.add_task("scienceqa", total=len(selected), rate="")
        gen = Generation(batch_size, max_new_tokens, system_prompt, ANSWER_PROMPTER if two_pass else None,
                         str(model), _with_rate(bar, task))
        result = run_benchmark(llava, processor, selected, image_root, output_dir, prompt_format, gen)
    console.print(markdown_table(result, model.name))
    console.print(f"→ {output_dir / 'scores.json'} · {output_dir / 'report.html'}")


def _subset(problems, subset: str):
    """Problems of one official category, or whose pids a file lists (one per line)."""
    from scitune.evaluate.scienceqa import CATEGORIES, categories_of

    if subset in CATEGORIES[:-1]:
        return [p for p in problems if subset in categories_of(p)]
    path = Path(subset)
    if not path.is_file():
        raise typer.BadParameter(f"--subset must be one of {', '.join(CATEGORIES[:-1])} or a file of pids")
    wanted = {line.strip() for line in path.read_text().splitlines() if line.strip()}
    return [p for p in problems if p.pid in wanted]


@evaluate_app.command("figures")
def evaluate_figures(
    model: Annotated[Path, typer.Option(help="A Llava checkpoint folder.")],
    data: Annotated[Path, typer.Option(
        help="Curated figure instructions (scitune curate) or FigureRecord JSONL (curated here as CTOM).",
        exists=True)],
    output_dir: Annotated[Path, typer.Option(help="Folder for predictions.jsonl, scores.json/.md, report.html.")],
    image_root: Annotated[Path, typer.Option(help="Folder the image paths are relative to.")] = Path("."),
    batch_size: Annotated[int, typer.Option(min=1, help="Prompts per batch; the answers do not depend on it.")] = 16,
    max_new_tokens: Annotated[int, typer.Option(min=1, help="Tokens generated per answer at most.")] = 64,
    system_prompt: Annotated[str, typer.Option(help="System message, as at training ('' for none).")] = "",
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N instructions (quick looks).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the prompt templates when curating FigureRecords.")] = 0,
) -> None:
    """Figure-type accuracy (with a confusion matrix) and caption BLEU-4 / ROUGE-L / CIDEr."""
    from scitune.evaluate.benchmarks import Generation, evaluate_figures as run_benchmark, figures_markdown

    _setup_logging(False)
    try:
        instructions, labels = _figure_items(data, seed)
    except ValueError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    instructions = instructions[:limit]
    llava, processor = _load_model(model)
    with _progress("figures") as bar:
        task = bar.add_task("figures", total=len(instructions), rate="")
        gen = Generation(batch_size, max_new_tokens, system_prompt, None, str(model), _with_rate(bar, task))
        result = run_benchmark(llava, processor, instructions, image_root, output_dir, labels, gen)
    console.print(figures_markdown(result, model.name))
    console.print(f"→ {output_dir / 'scores.json'} · {output_dir / 'report.html'}")


def _figure_items(data: Path, seed: int):
    """Instructions and the type labels from curated instructions or from FigureRecords."""
    import json

    from scitune.contracts import FigureRecord, Instruction, read_jsonl
    from scitune.curate.figures import figure_instructions

    with data.open(encoding="utf-8") as handle:
        first = next((line for line in handle if line.strip()), "{}")
    if "conversations" in json.loads(first):
        instructions = list(read_jsonl(data, Instruction))
        labels = {i.conversations[-1].value for i in instructions if i.source.get("task") == "figure_type"}
        return instructions, sorted(labels)
    records = list(read_jsonl(data, FigureRecord))
    labels = sorted({r.figure_type for r in records if r.figure_type})
    return list(figure_instructions(records, "CTOM", labels, seed)), labels


@app.command()
def compare(
    run_a: Annotated[Path, typer.Argument(help="An evaluation folder (with scores.json) or a run folder.")],
    run_b: Annotated[Path, typer.Argument(help="The folder to compare with RUN_A.")],
    output: Annotated[Path | None, typer.Option(help="Also write the comparison as Markdown.")] = None,
    show: Annotated[int, typer.Option(help="Changed items listed per direction.")] = 10,
) -> None:
    """Per-metric difference B − A and the items whose outcome changed (fixed, broken)."""
    from scitune.evaluate.compare import compare as run_compare, markdown

    try:
        result = run_compare(run_a, run_b)
    except ValueError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    text = markdown(result, show)
    console.print(text)
    if output:
        output.write_text(text, encoding="utf-8")


@curate_app.command("scienceqa")
def curate_scienceqa(
    problems: ProblemsPath,
    output: Annotated[Path, typer.Option(help="Instruction JSONL to write.")],
    prompt_format: Annotated[str, typer.Option("--format", help="INPUT-OUTPUT, e.g. QCM-LEPA, CQM-A, QCML-AE.")]
    = "QCM-LEPA",
    splits: SplitsPath = None,
    split: SplitName = None,
) -> None:
    """ScienceQA problems → LLaVA conversation JSONL in any of the ScienceQA paper's prompt formats."""
    from scitune.contracts import write_jsonl
    from scitune.curate.scienceqa import problem_instructions

    problem_set, selected = _select_problems(problems, splits, split)
    try:
        count = write_jsonl(output, problem_instructions(selected, prompt_format))
    except ValueError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    console.print(f"{count} instructions ({prompt_format}) → {output}; {len(problem_set.rejected)} problems rejected")
    for pid, reason in problem_set.rejected[:5]:
        console.print(f"[yellow]![/yellow] {pid}: {reason}")


@curate_app.command("figures")
def curate_figures(
    source: Annotated[Path, typer.Argument(help="A corpus file or folder (see --format).", exists=True)],
    output_dir: Annotated[Path, typer.Option(help="Folder for {train,val,test}.jsonl, records_*, rejected.jsonl, "
                                                   "quality.{json,md,png}.")],
    fmt: Annotated[str, typer.Option("--format", help="auto, scicap-challenge, scicap (per-figure JSONs), vistext, "
                                                       "arxivcap (parquet), folder (images + metadata), records "
                                                       "(FigureRecord JSONL).")] = "auto",
    image_root: Annotated[Path | None, typer.Option(
        help="Folder the records' image paths are relative to (default: the source's folder; ArxivCap: "
             "OUTPUT_DIR/images, where its images are written).")] = None,
    config: Annotated[Path | None, typer.Option(help="A YAML file of FigureCurationConfig fields.", exists=True)]
    = None,
    overrides: Overrides = None,
    ocr_cache: Annotated[Path | None, typer.Option(help="OCR cache folder, shared between runs "
                                                        "(default: OUTPUT_DIR/ocr_cache).")] = None,
) -> None:
    """Figure records from any corpus → CTOM instructions split by paper, with a quality report.

    Settings (components, tasks, OCR engine, image checks, token limit, split fractions…) are the
    fields of FigureCurationConfig: set them in --config YAML or with --set, e.g. --set components=CT
    --set ocr=none.
    """
    from scitune.config import FigureCurationConfig, RecipeError, apply_overrides
    from scitune.curate.corpus import FigureCuration
    from scitune.sources.figures import detect_format, read_figures

    _setup_logging(False)
    try:
        import yaml

        data = yaml.safe_load(config.read_text()) if config else {}
        cfg = apply_overrides(FigureCurationConfig, data or {}, list(overrides or []))
        fmt = detect_format(source) if fmt == "auto" else fmt
        images = output_dir / "images" if fmt == "arxivcap" else None
        root = image_root or images or (source if source.is_dir() else source.parent)
        items = read_figures(fmt, source, image_dir=images)
        tokenizer = _tokenizer(cfg.tokenizer)
        curation = FigureCuration(cfg, output_dir, root, tokenizer, ocr_cache=ocr_cache)
    except (ValueError, RecipeError) as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("curate figures ({task.fields[fmt]})"),
                  TextColumn("{task.completed} records"), TimeElapsedColumn(), TextColumn("{task.fields[rate]}"),
                  console=console) as bar:
        task = bar.add_task("curate", total=None, fmt=fmt, rate="")
        curation.run(items, on_item=_with_rate(bar, task, unit="records/s"))
    console.print((output_dir / "quality.md").read_text())
    console.print(f"→ {output_dir}")


def _curate_papers(kind: str, sources: list[Path], output_dir: Path, workers: int, dpi: int) -> None:
    from functools import partial

    from scitune.curate.papers import curate_papers, paper_sources

    papers = paper_sources(sources, kind)
    if not papers:
        console.print(f"[red]error:[/red] no {'PDF' if kind == 'pdf' else 'LaTeX'} paper found in the given paths")
        raise typer.Exit(2)
    if kind == "pdf":
        from scitune.sources.pdf import read_pdf_paper

        reader = partial(read_pdf_paper, dpi=dpi)
    else:
        from scitune.sources.latex import latex_reader as reader
    with _progress(f"curate {kind}") as bar:
        task = bar.add_task(kind, total=len(papers), rate="")
        summary = curate_papers(papers, output_dir, reader, workers, on_paper=_with_rate(bar, task, "papers/s"))
    console.print(f"{summary['papers']} papers → {summary['figures']} figure records, {summary['rejected']} "
                  f"problems reported" + (f", {summary['pages']} pages at {summary['pages_per_second']} pages/s"
                                          if kind == "pdf" else "") + f" → {output_dir / 'figures.jsonl'}")
    for reason, count in list(summary["rejected_by_kind"].items())[:8]:
        console.print(f"[yellow]![/yellow] {count} × {reason}")
    console.print(f"next: scitune curate figures {output_dir / 'figures.jsonl'} --image-root {output_dir} "
                  f"--output-dir DIR")


Sources = Annotated[list[Path], typer.Argument(help="Papers: files, archives, or folders of them.", exists=True)]
Workers = Annotated[int, typer.Option(help="Processes (0: one per core).")]


@curate_app.command("latex")
def curate_latex(
    sources: Sources,
    output_dir: Annotated[Path, typer.Option(help="Folder for figures.jsonl, rejected.jsonl, images/, sources/.")],
    workers: Workers = 0,
    dpi: Annotated[int, typer.Option(help="Resolution of PDF graphics rendered to PNG.")] = 150,
) -> None:
    """LaTeX sources (a folder or an arXiv .tar.gz per paper) → FigureRecords: captions, included
    graphics (PDF rendered, EPS via Ghostscript), citing paragraphs and sentences, type evidence."""
    _curate_papers("latex", sources, output_dir, workers, dpi)


@curate_app.command("pdf")
def curate_pdf(
    sources: Sources,
    output_dir: Annotated[Path, typer.Option(help="Folder for figures.jsonl, rejected.jsonl, images/.")],
    workers: Workers = 0,
    dpi: Annotated[int, typer.Option(help="Resolution of the cropped figure images.")] = 150,
) -> None:
    """PDFs → FigureRecords: captions (Figure/Fig./Table), the region each belongs to cropped to PNG,
    the text inside it from the PDF's text layer, and the body sentences that name it."""
    _curate_papers("pdf", sources, output_dir, workers, dpi)


def _tokenizer(name: str):
    from transformers import AutoTokenizer

    from scitune.model.build import resolve_lm_name

    return AutoTokenizer.from_pretrained(resolve_lm_name(name))


@app.command()
def ocr(
    images: Annotated[list[Path], typer.Argument(help="Image files or folders of images.", exists=True)],
    engine: Annotated[str, typer.Option(help="tesseract (Debian tesseract-ocr) or rapidocr (pip only).")]
    = "tesseract",
    output: Annotated[Path | None, typer.Option(help="JSONL of {image, lines, words with boxes}; default: print.")]
    = None,
    cache: Annotated[Path, typer.Option(help="Cache folder; an image already read (same bytes) is not read again.")]
    = Path.home() / ".cache" / "scitune" / "ocr",
) -> None:
    """Read the text inside figures, with word (Tesseract) or line (RapidOCR) boxes."""
    import json
    from dataclasses import asdict

    from scitune.curate.ocr import OcrCache, lines, make_engine

    try:
        reader = make_engine(engine)
    except ValueError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    if reader is None:
        raise typer.BadParameter("choose an engine")
    files = [f for path in images for f in ([path] if path.is_file() else sorted(
        p for p in path.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif",
                                                             ".tiff", ".webp")))]
    store = OcrCache(reader, cache)
    handle = output.open("w", encoding="utf-8") if output else None
    with _progress("ocr") as bar:
        task = bar.add_task("ocr", total=len(files), rate="")
        advance = _with_rate(bar, task)
        for path in files:
            try:
                words = store.read(path)
                row = {"image": str(path), "lines": lines(words), "words": [asdict(w) for w in words]}
            except ValueError as error:
                row = {"image": str(path), "error": str(error)}
            if handle:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            else:
                bar.console.print(f"[bold]{path.name}[/bold]: " + (" | ".join(row.get("lines", [])) or
                                                                   row.get("error", "(no text)")))
            advance(1)
    if handle:
        handle.close()
        console.print(f"{len(files)} images ({store.hits} from the cache) → {output}")


@app.command()
def serve(
    model: Annotated[Path, typer.Option(help="A Llava checkpoint folder.")],
    host: Annotated[str, typer.Option(help="Interface to bind; other than 127.0.0.1 only when you mean it.")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    ui: Annotated[bool, typer.Option("--ui", help="Also serve the web UI at /ui.")] = False,
    allow_image_dir: Annotated[Path | None, typer.Option(help="Folder whose files may be sent as file:// URLs.")]
    = None,
    overrides: Overrides = None,
) -> None:
    """An OpenAI-compatible API (POST /v1/chat/completions, GET /v1/models, GET /health) and, with
    --ui, a web UI, for one checkpoint. Limits and batching: --set max_batch=16 --set max_tokens=512 …
    (fields of ServeConfig)."""
    import uvicorn

    from scitune.config import RecipeError, ServeConfig, apply_overrides
    from scitune.serve.api import create_app
    from scitune.serve.engine import Engine

    _setup_logging(False)
    try:
        cfg = apply_overrides(ServeConfig, {"host": host, "port": port, "allowed_image_dir": allow_image_dir},
                              list(overrides or []))
    except RecipeError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    if not (model / "config.json").is_file():
        console.print(f"[red]error:[/red] {model} is not a model checkpoint: it has no config.json")
        raise typer.Exit(2)
    if cfg.host not in ("127.0.0.1", "localhost", "::1"):
        console.print(f"[yellow]warning:[/yellow] listening on {cfg.host}: reachable from other machines")
    engine = Engine(model, cfg.max_batch, cfg.batch_wait_ms, cfg.system_prompt)
    api = create_app(engine, cfg)
    if ui:
        import gradio as gr

        from scitune.serve.ui import build_ui

        api = gr.mount_gradio_app(api, build_ui(engine, 128, cfg.max_tokens), path="/ui")
    console.print(f"serving {model.name} on http://{cfg.host}:{cfg.port}/v1" + (f" · UI http://{cfg.host}:{cfg.port}/ui"
                                                                              if ui else ""))
    uvicorn.run(api, host=cfg.host, port=cfg.port, log_level="warning")


@app.command()
def chat(
    model: Annotated[Path, typer.Option(help="A Llava checkpoint folder.")],
    image: Annotated[Path | None, typer.Option(help="A figure to talk about.", exists=True)] = None,
    max_tokens: Annotated[int, typer.Option(min=1, help="New tokens per answer at most.")] = 256,
    system_prompt: Annotated[str, typer.Option(help="System message, as at training ('' for none).")] = "",
) -> None:
    """Chat with a checkpoint in the terminal (greedy). Commands: /image PATH, /reset, /quit."""
    from PIL import Image

    from scitune.contracts import IMAGE_PLACEHOLDER
    from scitune.serve.engine import Engine, Request, TooLong

    _setup_logging(False)
    if not (model / "config.json").is_file():
        console.print(f"[red]error:[/red] {model} is not a model checkpoint: it has no config.json")
        raise typer.Exit(2)
    engine = Engine(model, max_batch=1, batch_wait_ms=0, system_prompt=system_prompt)
    with console.status(f"loading {model.name}…"):
        engine.wait_ready()
    if engine.error:
        console.print(f"[red]error:[/red] {engine.error}")
        raise typer.Exit(2)
    figure = Image.open(image).convert("RGB") if image else None
    turns: list[tuple[str, str]] = []
    console.print(f"[bold]{model.name}[/bold] ready. /image PATH · /reset · /quit" +
                  (f" · figure: {image.name}" if image else ""))
    while True:
        try:
            line = console.input("[bold cyan]you>[/bold cyan] ").strip()
        except (EOFError, KeyboardInterrupt):
            break
        if not line:
            continue
        if line in ("/quit", "/exit"):
            break
        if line == "/reset":
            turns = []
            console.print("[dim](conversation cleared)[/dim]")
            continue
        if line.startswith("/image"):
            path = Path(line.removeprefix("/image").strip())
            try:
                figure, turns = Image.open(path).convert("RGB"), []
                console.print(f"[dim](figure {path.name}; conversation cleared)[/dim]")
            except OSError as error:
                console.print(f"[red]cannot open {path}: {error}[/red]")
            continue
        text = f"{IMAGE_PLACEHOLDER}\n{line}" if figure is not None and not turns else line
        console.print("[bold green]model>[/bold green] ", end="")
        request = Request(turns=[*turns, ("human", text)], image=figure, max_tokens=max_tokens,
                          on_text=lambda piece: console.print(piece, end="", soft_wrap=True, highlight=False,
                                                              markup=False))
        try:
            answer = engine.answer(request)
        except TooLong as error:
            console.print(f"[red]{error}[/red] (/reset to start over)")
            continue
        console.print()
        turns += [("human", text), ("gpt", answer.text)]


if __name__ == "__main__":
    app()
