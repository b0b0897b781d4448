"""What every command shares: the console, one error → exit-2 rule, progress bars, common options."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler

console = Console()

Overrides = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a setting, e.g. --set stages.0.learning_rate=1e-3 (repeatable)."),
]
TwoPass = Annotated[bool, typer.Option(
    "--two-pass", help="LLaVA/SciTune answer prompter: generate the reasoning, then ask for 'ANSWER:' alone.")]
BatchSize = Annotated[int, typer.Option(min=1, help="Prompts per batch; the answers do not depend on it.")]
SystemPrompt = Annotated[str | None, typer.Option(
    help="System message (default: the one the checkpoint was trained with, recorded in its recipe).")]
Limit = Annotated[int | None, typer.Option(min=1, help="Only the first N items (quick looks).")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log library details.")]

F = TypeVar("F", bound=Callable)


def user_errors(command: F) -> F:
    """Bad input (a ValueError from the library, which names the file, record or field) becomes a
    one-line red message and exit status 2, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (ValueError, FileNotFoundError) as error:
            console.print(f"[red]error:[/red] {error}")
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False)],
    )
    logging.getLogger("scitune").setLevel(logging.INFO)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # weight-loading bars; training and evaluation keep theirs


def progress(label: str):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("{task.fields[rate]}"), console=console)


def with_rate(bar, task, unit: str = "items/s") -> Callable[[int], None]:
    """An `advance(n)` callback that also shows the rate since the start."""
    started = time.perf_counter()

    def advance(n: int) -> None:
        bar.advance(task, n)
        done = bar.tasks[0].completed
        bar.update(task, rate=f"{done / (time.perf_counter() - started):.2f} {unit}")

    return advance


def tracked(label: str, total: int | None, fn: Callable[[Callable[[int], None]], object], unit: str = "items/s"):
    """Run FN(advance) under a progress bar of TOTAL items; returns what FN returns."""
    with progress(label) as bar:
        task = bar.add_task(label, total=total, rate="")
        return fn(with_rate(bar, task, unit))


def existing_checkpoint(model: Path) -> Path:
    if not (Path(model) / "config.json").is_file():
        raise ValueError(f"{model} is not a model checkpoint: it has no config.json")
    return Path(model)
