"""The data steps of a run: render the demo corpus (a source like any other), then curate figures
and questions through the one curation path every corpus takes."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from scitune.config import FigureSourceConfig, ProblemSourceConfig, Recipe
from scitune.curate.manifest import CuratedSet


def demo_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "corpus" / "demo"


def figure_source(recipe: Recipe, run_dir: Path) -> FigureSourceConfig | None:
    """The figure corpus of the run: the configured one, or the demo's rendered records."""
    if recipe.corpus.demo is not None:
        return FigureSourceConfig(path=demo_dir(run_dir) / "figures.jsonl", format="records",
                                  image_root=demo_dir(run_dir))
    return recipe.corpus.figures


def problem_source(recipe: Recipe, run_dir: Path) -> ProblemSourceConfig | None:
    """The ScienceQA problems of the run: the configured release, or the demo's rendered problems."""
    if recipe.corpus.demo is not None:
        return ProblemSourceConfig(paths=[demo_dir(run_dir) / "problems.jsonl"], images=demo_dir(run_dir))
    return recipe.corpus.problems


def render_demo(recipe: Recipe, run_dir: Path, console: Console) -> None:
    from scitune.sources.demo import generate_corpus

    demo, figures = recipe.corpus.demo, recipe.curate.figures
    records, problems = generate_corpus(demo_dir(run_dir), demo.figures_per_type, figures.test_fraction,
                                        demo.image_size, recipe.seed, figures.val_fraction)
    console.print(f"demo corpus: {len(records)} figures, {len(problems)} questions in {demo_dir(run_dir)} "
               "(generated text, not human-written)")


def curate_figures(recipe: Recipe, run_dir: Path, out_dir: Path, console: Console) -> None:
    """Every figure corpus through `FigureCuration`: checks, OCR, split by paper, quality report,
    manifest; target lengths in tokens of the LM this recipe trains."""
    from transformers import AutoTokenizer

    from scitune.curate.corpus import FigureCuration
    from scitune.model.build import resolve_lm_name
    from scitune.sources.figures import open_figures

    source = figure_source(recipe, run_dir)
    items, image_root = open_figures(source.format, source.path, source.image_root, work_dir=out_dir)
    tokenizer = AutoTokenizer.from_pretrained(resolve_lm_name(recipe.model.tokenizer_name))
    curation = FigureCuration(recipe.curate.figures, out_dir, image_root, tokenizer, seed=recipe.seed)
    result = curation.run(items)
    console.print(f"figures: {result['records_in']} in, {result['records_kept']} kept, {result['records_rejected']} "
               f"rejected; instructions {result['instructions_per_split']} ({out_dir / 'quality.md'})")


def curate_questions(recipe: Recipe, run_dir: Path, out_dir: Path, console: Console) -> None:
    from scitune.curate.questions import curate_questions as curate

    source = problem_source(recipe, run_dir)
    manifest = curate(source.paths, recipe.curate.questions, out_dir, source.splits, source.images)
    counts = {info["split"]: info["count"] for info in manifest["files"].values()}
    console.print(f"questions ({recipe.curate.questions.format}): {counts}; {manifest['rejected']} problems rejected")


def curated(run_dir: Path, data: str, split: str) -> CuratedSet:
    """A curated split of 'figures' or 'questions', with what its manifest says."""
    return CuratedSet.open(Path(run_dir) / "curate" / data / f"{split}.jsonl")
