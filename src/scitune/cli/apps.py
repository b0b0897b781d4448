"""The `scitune` command and its groups; the command modules register themselves on these."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="SciTune: scientific multimodal instruction tuning — curate, train in two stages, evaluate, serve.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
curate_app = typer.Typer(help="Turn records into instruction JSONL.", no_args_is_help=True)
evaluate_app = typer.Typer(help="Predict and score a model on a benchmark.", no_args_is_help=True)
score_app = typer.Typer(help="Score predictions made elsewhere against a benchmark.", no_args_is_help=True)
app.add_typer(curate_app, name="curate")
app.add_typer(evaluate_app, name="evaluate")
app.add_typer(score_app, name="score")
