"""Recipes: `scitune run`, `scitune train` (one stage, for torchrun/accelerate), `quickstart`, `validate`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from scitune.cli.apps import app
from scitune.cli.common import Overrides, Verbose, console, setup_logging, user_errors
from scitune.config import load_recipe, shipped_recipe

OutputDir = Annotated[Path | None, typer.Option(help="Run folder (default: the recipe's output_dir).")]
OnChange = Annotated[str, typer.Option(
    help="Work in the run folder made under other settings: redo it (and every step after), or refuse.")]


def _recipe(path: Path, overrides: list[str] | None, output_dir: Path | None):
    overrides = list(overrides or [])
    if output_dir is not None:
        overrides.append(f"output_dir={output_dir}")
    return load_recipe(path, overrides)


def _run(path: Path, overrides, output_dir, verbose: bool, until: str | None = None, on_change: str = "redo") -> None:
    from scitune.pipeline.run import Run

    setup_logging(verbose)
    if on_change not in ("redo", "refuse"):
        raise ValueError(f"--on-change must be redo or refuse, not {on_change}")
    recipe = _recipe(path, overrides, output_dir)
    started = time.perf_counter()
    report = Run(recipe, console).execute(until, on_change)
    if until:
        console.print(f"\n[bold green]Done[/bold green] up to {until} in {time.perf_counter() - started:.0f} s.")
        return
    console.print(f"\n[bold green]Done[/bold green] in {time.perf_counter() - started:.0f} s. "
                  f"Report: [link=file://{report.resolve()}]{report}[/link]")


@app.command()
@user_errors
def run(
    recipe: Annotated[Path, typer.Argument(help="A recipe YAML file (see recipes/).")],
    overrides: Overrides = None,
    output_dir: OutputDir = None,
    until: Annotated[str | None, typer.Option(help="Stop after this step (e.g. model:base, curate:figures).")]
    = None,
    on_change: OnChange = "redo",
    verbose: Verbose = False,
) -> None:
    """Run every step of a recipe: sources, curation, evaluate, train each stage, evaluate, report.

    A rerun continues from the last finished step; a step whose settings or inputs changed is
    redone with every step after it (the message names what changed).
    """
    _run(recipe, overrides, output_dir, verbose, until, on_change)


@app.command()
@user_errors
def train(
    recipe: Annotated[Path, typer.Argument(help="A recipe YAML file.")],
    stage: Annotated[str, typer.Option(help="The stage to train (its earlier steps must be done).")],
    overrides: Overrides = None,
    output_dir: OutputDir = None,
) -> None:
    """Train one stage of a run: the command to start under `torchrun` or `accelerate launch` for
    several GPUs or nodes (e.g. with configs/accelerate_fsdp.yaml); prepare the run first with
    `scitune run RECIPE --until model:base` (or up to the previous stage)."""
    from scitune.pipeline.run import Run

    setup_logging(False)
    final = Run(_recipe(recipe, overrides, output_dir), console).train_only(stage)
    console.print(f"stage {stage} → {final}")


@app.command()
@user_errors
def quickstart(
    output_dir: Annotated[Path, typer.Option(help="Run folder.")] = Path("runs/quickstart"),
    overrides: Overrides = None,
    verbose: Verbose = False,
) -> None:
    """The whole pipeline on the embedded default (SmolLM2-135M-Instruct + a small random SigLIP tower)
    and a generated demo corpus: about 8 minutes on 2 CPU cores, install not counted."""
    _run(shipped_recipe("quickstart"), overrides, output_dir, verbose)


@app.command()
@user_errors
def validate(
    recipe: Annotated[Path, typer.Argument(help="A recipe YAML file.")],
    overrides: Overrides = None,
) -> None:
    """Load and validate a recipe without running it; prints the resolved recipe."""
    import yaml

    resolved = load_recipe(recipe, list(overrides or []))
    console.print(yaml.safe_dump(resolved.model_dump(mode="json"), sort_keys=False))
