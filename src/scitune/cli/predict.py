"""Answers and scores: `scitune predict`, `scitune evaluate scienceqa|figures`, `scitune score
scienceqa`, `scitune compare`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scitune.cli.apps import app, evaluate_app, score_app
from scitune.cli.common import (
    BatchSize,
    Limit,
    SystemPrompt,
    TwoPass,
    console,
    existing_checkpoint,
    setup_logging,
    tracked,
    user_errors,
)

ImageRoot = Annotated[Path | None, typer.Option(
    help="Folder the image paths are relative to (default: the one the curated data's manifest.json names).")]
ProblemsPath = Annotated[list[Path], typer.Option(
    "--problems", help="problems.json (official), a parquet file/folder (Hugging Face), llava_{split}_*.json or "
    "Problem JSONL; repeat to combine sources.", exists=True)]
SplitsPath = Annotated[Path | None, typer.Option(
    "--splits", help="pid_splits.json; with --split, exactly that official pid list.", exists=True)]
SplitName = Annotated[str | None, typer.Option(help="train, val, test, trainval, minitrain, minival or minitest.")]
AnswerRule = Annotated[str | None, typer.Option(
    "--rule", help="How answers are read: official (ScienceQA's evaluator), llava, llava-lepa (LLaVA's answer "
                   "prompter on LEPA output) or scitune (lenient, not for published numbers).")]
Device = Annotated[str, typer.Option(
    help="auto (the GPU when there is one, else the CPU), cpu, cuda or cuda:N. A model larger than one GPU is "
         "spread over all of them.")]
Dtype = Annotated[str, typer.Option(
    help="auto (GPU: bf16 where it computes it, else fp16; CPU: fp32), "
         "float32, bfloat16 or float16. Only float32 answers are guaranteed not to depend on the batch size.")]


def _load(model: Path, device: str = "auto", dtype: str = "auto"):
    """The checkpoint placed by the one inference rule (`model.device`: DEVICE and DTYPE, 'auto' by
    default); under torchrun / accelerate launch each rank takes its own GPU (LOCAL_RANK) unless
    --device names one."""
    from scitune.evaluate.shards import current_ranks
    from scitune.model.build import load_for_inference

    ranks = current_ranks()
    if device == "auto" and ranks.world > 1:
        device = ranks.device()
    llava, processor = load_for_inference(existing_checkpoint(model), device, dtype)
    if ranks.is_main:
        console.print(f"[dim]{model.name} on {llava.placement.describe()}[/dim]")
    return llava, processor


def _tracked(label: str, total: int, fn, batch_size: int):
    """Run FN(advance) on every rank (predict shares the batches among them, and what follows the
    merged predictions is the same everywhere); only rank 0 shows its share's progress."""
    from scitune.evaluate.shards import current_ranks, rank_share

    ranks = current_ranks()
    if ranks.world == 1:
        return tracked(label, total, fn)
    if not ranks.is_main:
        return fn(lambda _: None)
    return tracked(f"{label} (rank 0 of {ranks.world})", rank_share(total, batch_size, ranks), fn)


def _on_main() -> bool:
    from scitune.evaluate.shards import current_ranks

    return current_ranks().is_main


def _system_prompt(model: Path, given: str | None) -> str:
    from scitune.model.build import trained_system_prompt

    return trained_system_prompt(model) if given is None else given


def _needs_root(items, image_root: Path | None, data: Path) -> None:
    if image_root is None and any(i.image for i in items):
        raise ValueError(f"{data} has image items but names no image root (no manifest.json beside it): "
                         "pass --image-root")


@app.command()
@user_errors
def predict(
    model: Annotated[Path, typer.Option(help="A Llava checkpoint folder (ours or any LlavaForConditionalGeneration).")],
    data: Annotated[Path, typer.Option(help="Instructions: our JSONL, LLaVA's JSON/JSONL, or a curated folder "
                                            "(its test split).", exists=True)],
    output: Annotated[Path, typer.Option(help="Predictions JSONL; an existing file is resumed, not overwritten.")],
    image_root: ImageRoot = None,
    batch_size: BatchSize = 16,
    max_new_tokens: Annotated[int, typer.Option(min=1, help="Tokens generated per answer at most.")] = 96,
    system_prompt: SystemPrompt = None,
    two_pass: TwoPass = False,
    limit: Limit = None,
    device: Device = "auto",
    dtype: Dtype = "auto",
) -> None:
    """Greedy answers for every instruction, appended to OUTPUT as they are produced.

    Under `torchrun --nproc_per_node=N -m scitune.cli predict …` (or accelerate launch) the N
    processes share the items; OUTPUT is the file one process would have written."""
    from scitune.contracts import Prediction, read_jsonl
    from scitune.curate.manifest import CuratedSet
    from scitune.evaluate.predict import predict as generate
    from scitune.evaluate.shards import read_ids, shard_folder
    from scitune.model.generate import ANSWER_PROMPTER
    from scitune.sources.instructions import read_instructions

    setup_logging(False)
    curated = CuratedSet.open(data, image_root)
    items = list(read_instructions(curated.path))[:limit]
    _needs_root(items, curated.image_root, data)
    llava, processor = _load(model, device, dtype)
    done = read_ids(output).union(*(read_ids(shard) for shard in shard_folder(output).glob("rank*.jsonl")))
    todo = len([i for i in items if i.id not in done])
    _tracked("predict", todo, lambda advance: generate(
        llava, processor, items, curated.image_root, output, _system_prompt(model, system_prompt), str(model),
        max_new_tokens, batch_size, on_batch=advance, answer_prompter=ANSWER_PROMPTER if two_pass else None), batch_size)
    if not _on_main():
        return
    failed = sum(1 for prediction in read_jsonl(output, Prediction) if prediction.error)
    console.print(f"{todo} new predictions ({len(items) - todo} already there, {failed} failed) → {output}")


def _select(problems: list[Path], splits: Path | None, split: str | None):
    from scitune.sources.scienceqa import load_sources, select

    problem_set = load_sources(problems)
    return problem_set, select(problem_set, splits, split)


@score_app.command("scienceqa")
@user_errors
def score_scienceqa(
    problems: ProblemsPath,
    predictions: Annotated[Path, typer.Option(
        help="Predictions JSONL ({id, text}), LLaVA answers JSONL, or official results JSON.", exists=True)],
    splits: SplitsPath = None,
    split: SplitName = None,
    policy: Annotated[str, typer.Option(help="Unparseable or missing answers: wrong (LLaVA-1.5's eval_science_qa.py), random (ScienceQA's own evaluator draws one), exclude.")]
    = "wrong",
    seed: Annotated[int, typer.Option(help="Seed of the 'random' policy.")] = 0,
    rule: AnswerRule = "official",
    source: Annotated[str, typer.Option(help="Official results JSON: score its choice indices ('results') or read "
                                             "its generated texts by --rule ('outputs').")] = "results",
    output_json: Annotated[Path | None, typer.Option(help="Write the full result as JSON.")] = None,
    output_md: Annotated[Path | None, typer.Option(help="Write the Markdown table beside the reference rows.")]
    = None,
) -> None:
    """ScienceQA accuracy per category (NAT SOC LAN TXT IMG NO G1-6 G7-12 Avg), per topic and skill."""
    import json

    from rich import box
    from rich.table import Table

    from scitune.evaluate.scienceqa import (
        CATEGORIES,
        REFERENCE_ROWS,
        load_answers,
        markdown_table,
        score,
        scoring_note,
    )

    problem_set, selected = _select(problems, splits, split)
    result = score(selected, load_answers(predictions, source=source), policy=policy, seed=seed, rule=rule)
    result["rejected_problems"] = [f"{r.id}: {r.reason}" for r in problem_set.rejected]
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
    console.print(scoring_note(result) + "".join(f" · {reason}: {count}" for reason, count in
                                                 result["parse_failures_by_reason"].items()))
    for issue in result["issues"][:5]:
        console.print(f"[yellow]![/yellow] {issue}")
    if output_json:
        output_json.parent.mkdir(parents=True, exist_ok=True)
        output_json.write_text(json.dumps(result, indent=2))
    if output_md:
        output_md.parent.mkdir(parents=True, exist_ok=True)
        output_md.write_text(markdown_table(result, predictions.stem))


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


@evaluate_app.command("scienceqa")
@user_errors
def evaluate_scienceqa(
    model: Annotated[Path, typer.Option(help="A Llava checkpoint folder.")],
    problems: ProblemsPath,
    output_dir: Annotated[Path, typer.Option(help="Folder for predictions.jsonl, scores.json/.md, report.html.")],
    image_root: Annotated[Path, typer.Option(help="Folder the problems' image paths are relative to.")] = Path("."),
    splits: SplitsPath = None,
    split: SplitName = None,
    prompt_format: Annotated[str | None, typer.Option(
        "--format", help="Prompt format (default: the one the checkpoint was trained on, else QCM-LEPA).")] = None,
    batch_size: BatchSize = 16,
    max_new_tokens: Annotated[int, typer.Option(min=1, help="Tokens generated per answer at most.")] = 96,
    system_prompt: SystemPrompt = None,
    two_pass: TwoPass = False,
    rule: AnswerRule = None,
    limit: Limit = None,
    subset: Annotated[str | None, typer.Option(
        help="Only one category (NAT, SOC, LAN, TXT, IMG, NO, G1-6, G7-12) or the pids listed in a file.")] = None,
    device: Device = "auto",
    dtype: Dtype = "auto",
) -> None:
    """Greedy answers to ScienceQA problems (image and text-only together), then the official scores
    (answers read by the rule the papers used for the format unless --rule says otherwise)."""
    from scitune.curate.scienceqa import problem_instructions
    from scitune.evaluate.benchmarks import Generation, evaluate_scienceqa as run_benchmark
    from scitune.evaluate.scienceqa import markdown_table
    from scitune.model.build import trained_recipe
    from scitune.model.generate import ANSWER_PROMPTER

    setup_logging(False)
    _, selected = _select(problems, splits, split)
    if subset:
        selected = _subset(selected, subset)
    selected = selected[:limit]
    trained = (trained_recipe(existing_checkpoint(model)).get("curate") or {}).get("questions") or {}
    prompt_format = prompt_format or trained.get("format", "QCM-LEPA")
    instructions = list(problem_instructions(selected, prompt_format))
    llava, processor = _load(model, device, dtype)

    def run_it(advance):
        gen = Generation(batch_size, max_new_tokens, _system_prompt(model, system_prompt),
                         ANSWER_PROMPTER if two_pass else None, str(model), advance)
        return run_benchmark(llava, processor, instructions, {p.pid: p for p in selected}, image_root, output_dir,
                             gen, rule)

    result = _tracked("scienceqa", len(selected), run_it, batch_size)
    if not _on_main():
        return
    console.print(markdown_table(result, model.name))
    console.print(f"→ {output_dir / 'scores.json'} · {output_dir / 'report.html'}")


@evaluate_app.command("figures")
@user_errors
def evaluate_figures(
    model: Annotated[Path, typer.Option(help="A Llava checkpoint folder.")],
    data: Annotated[Path, typer.Option(
        help="Curated figure instructions (a curated folder or its JSONL) or FigureRecord JSONL (curated here with "
             "the checkpoint's CTOM components).", exists=True)],
    output_dir: Annotated[Path, typer.Option(help="Folder for predictions.jsonl, scores.json/.md, report.html.")],
    image_root: ImageRoot = None,
    batch_size: BatchSize = 16,
    max_new_tokens: Annotated[int, typer.Option(min=1, help="Tokens generated per answer at most.")] = 64,
    system_prompt: SystemPrompt = None,
    limit: Limit = None,
    seed: Annotated[int, typer.Option(help="Seed of the prompt templates when curating FigureRecords.")] = 0,
    device: Device = "auto",
    dtype: Dtype = "auto",
) -> None:
    """Figure-type accuracy (with a confusion matrix) and caption BLEU-4 / ROUGE-L / CIDEr."""
    from scitune.evaluate.benchmarks import Generation, evaluate_figures as run_benchmark, figures_markdown

    setup_logging(False)
    instructions, labels, root = _figure_items(data, image_root, model, seed)
    instructions = instructions[:limit]
    _needs_root(instructions, root, data)
    llava, processor = _load(model, device, dtype)

    def run_it(advance):
        gen = Generation(batch_size, max_new_tokens, _system_prompt(model, system_prompt), None, str(model), advance)
        return run_benchmark(llava, processor, instructions, root, output_dir, labels, gen)

    result = _tracked("figures", len(instructions), run_it, batch_size)
    if not _on_main():
        return
    console.print(figures_markdown(result, model.name))
    console.print(f"→ {output_dir / 'scores.json'} · {output_dir / 'report.html'}")


def _figure_items(data: Path, image_root: Path | None, model: Path, seed: int):
    """Instructions, the type labels and the image root, from curated data (as curated, with its
    manifest's labels) or from FigureRecords (CTOM components as the checkpoint was trained)."""
    import json

    from scitune.contracts import FigureRecord, read_jsonl
    from scitune.curate.figures import figure_instructions
    from scitune.curate.manifest import CuratedSet
    from scitune.model.build import trained_recipe
    from scitune.sources.instructions import read_instructions

    curated = CuratedSet.open(data, image_root)
    with curated.path.open(encoding="utf-8") as handle:
        first = next((line for line in handle if line.strip()), "{}")
    if first.lstrip().startswith("[") or "conversations" in json.loads(first):
        instructions = list(read_instructions(curated.path))
        labels = curated.labels or sorted({i.conversations[-1].value for i in instructions
                                           if i.source.get("task") == "figure_type"})
        return instructions, labels, curated.image_root
    records = list(read_jsonl(curated.path, FigureRecord))
    labels = curated.labels or sorted({r.figure_type for r in records if r.figure_type})
    figures = (trained_recipe(existing_checkpoint(model)).get("curate") or {}).get("figures") or {}
    components = figures.get("components", "CTOM")
    return (list(figure_instructions(records, components, labels, seed)), labels,
            curated.image_root or curated.path.parent)


@app.command()
@user_errors
def compare(
    run_a: Annotated[Path, typer.Argument(help="An evaluation folder (with scores.json) or a run folder.")],
    run_b: Annotated[Path, typer.Argument(help="The folder to compare with RUN_A.")],
    output: Annotated[Path | None, typer.Option(help="Also write the comparison as Markdown.")] = None,
    show: Annotated[int, typer.Option(help="Changed items listed per direction.")] = 10,
) -> None:
    """Per-metric difference B − A and the items whose outcome changed (fixed, broken)."""
    from scitune.evaluate.compare import compare as run_compare, markdown

    text = markdown(run_compare(run_a, run_b), show)
    console.print(text)
    if output:
        output.write_text(text, encoding="utf-8")
