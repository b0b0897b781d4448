"""`python -m scitune.cli …` (what `torchrun` and `accelerate launch -m` start on every process)."""

from scitune.cli import app

app()
