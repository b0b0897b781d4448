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

Overrides = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a recipe field, e.g. --set stages.0.learning_rate=1e-3 (repeatable)."),
]


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False)],
    )
    logging.getLogger("scitune").setLevel(logging.INFO)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # weight-loading bars; training and evaluation keep theirs


def _run_recipe(path: Path, overrides: list[str] | None, output_dir: Path | None, verbose: bool) -> None:
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
    report = Run(recipe, console).execute()
    console.print(f"\n[bold green]Done[/bold green] in {time.perf_counter() - started:.0f} s. "
                  f"Report: [link=file://{report.resolve()}]{report}[/link]")


@app.command()
def run(
    recipe: Annotated[Path, typer.Argument(help="A recipe YAML file (see recipes/).")],
    overrides: Overrides = None,
    output_dir: Annotated[Path | None, typer.Option(help="Run folder (default: the recipe's output_dir).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log library details.")] = False,
) -> None:
    """Run every step of a recipe: corpus, curate, evaluate, train each stage, evaluate, report.

    A rerun of an interrupted run continues from the last finished step.
    """
    _run_recipe(recipe, overrides, output_dir, verbose)


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


if __name__ == "__main__":
    app()
