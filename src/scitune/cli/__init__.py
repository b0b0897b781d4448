"""The `scitune` command line (Typer). Each command wraps one library entry point; one module per
group of commands."""

from scitune.cli import benchmarks, curate, pipeline, predict, serve  # noqa: F401  (each registers its commands)
from scitune.cli.apps import app

__all__ = ["app"]
