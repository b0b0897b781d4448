"""The evaluation step: a checkpoint on the held-out curated sets, through the same functions as
`scitune evaluate` (the curated test files as they are, joined to their problems by id)."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from scitune.config import Recipe, save_recipe
from scitune.contracts import Problem, read_jsonl
from scitune.pipeline.data import curated


@contextmanager
def _progress(label: str, total: int, console: Console):
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def inference_dtype(recipe: Recipe) -> str:
    """The `dtype` every checkpoint of the run is evaluated in (one for all, so that the base, stage
    and final rows compare): `evaluate.dtype`, with as_trained resolved to the precision of the
    last stage (`train.stage.use_bf16`)."""
    if recipe.evaluate.dtype != "as_trained":
        return recipe.evaluate.dtype
    from scitune.train.stage import use_bf16

    return "bfloat16" if use_bf16(recipe.stages[-1].precision if recipe.stages else "auto") else "float32"


def evaluate_checkpoint(recipe: Recipe, run_dir: Path, name: str, model_dir: Path, out: Path,
                        console: Console) -> dict:
    """Scores of the checkpoint in MODEL_DIR on every held-out set the run has; writes OUT/scores.json."""
    from scitune.evaluate.benchmarks import Generation, evaluate_figures, evaluate_scienceqa
    from scitune.model.build import load_for_inference
    from scitune.sources.instructions import read_instructions

    model, processor = load_for_inference(model_dir, dtype=inference_dtype(recipe))  # the GPU when there is one
    e = recipe.evaluate
    model_name = f"{recipe.name}/{name}"
    scores: dict = {}
    if recipe.corpus.has_figures:
        figures = curated(run_dir, "figures", "test")
        items = list(read_instructions(figures.path))[: e.limit]
        with _progress(f"{name} · figures", len(items), console) as advance:
            gen = Generation(e.batch_size, e.max_new_tokens_figures, recipe.curate.system_prompt,
                             model_name=model_name, on_batch=advance)
            scores["figures"] = evaluate_figures(model, processor, items, figures.image_root, out / "figures",
                                                 figures.labels, gen)
    if recipe.corpus.has_problems:
        questions = curated(run_dir, "questions", "test")
        items = list(read_instructions(questions.path))[: e.limit]
        problems = {p.pid: p for p in read_jsonl(questions.path.parent / "problems_test.jsonl", Problem)}
        with _progress(f"{name} · questions", len(items), console) as advance:
            gen = Generation(e.batch_size, e.max_new_tokens_questions, recipe.curate.system_prompt,
                             model_name=model_name, on_batch=advance)
            scores["questions"] = evaluate_scienceqa(model, processor, items, problems, questions.image_root,
                                                     out / "questions", gen)
    (out / "scores.json").write_text(json.dumps(scores, indent=2))
    save_recipe(recipe, out / "recipe.yaml")
    said = []
    if "figures" in scores:
        types = scores["figures"]["figure_types"]
        said.append(f"figure-type accuracy {types['accuracy']}% (chance {types['chance']}%), caption BLEU-4 "
                    f"{scores['figures']['captions']['bleu4']}")
    if "questions" in scores:
        said.append(f"question accuracy {scores['questions']['accuracy']['Avg']}%")
    console.print(", ".join(said))
    return scores
