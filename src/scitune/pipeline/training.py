"""The model steps of a run: assemble the base model, then train each stage from the previous one."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from rich.console import Console

from scitune.config import Recipe, StageConfig, save_recipe
from scitune.pipeline.data import curated


def build_base(recipe: Recipe, target: Path, console: Console) -> None:
    from scitune.model.build import build_model

    model, processor = build_model(recipe.model, seed=recipe.seed)
    model.save_pretrained(target)
    processor.save_pretrained(target)
    save_recipe(recipe, target / "recipe.yaml")
    console.print(f"base model → {target}")


def train_stage(recipe: Recipe, stage: StageConfig, run_dir: Path, previous: Path, console: Console) -> None:
    """Train STAGE from the checkpoint in PREVIOUS on its curated training sets."""
    from scitune.model.build import load_llava
    from scitune.train.lora import check_qlora
    from scitune.train.stage import run_stage

    check_qlora(stage)
    model, processor = load_llava(previous, quantize_4bit=stage.qlora)
    data = {name: curated(run_dir, name, "train") for name in stage.mixture}
    out_dir = Path(run_dir) / stage.name
    final = run_stage(recipe, stage, model, processor, data, out_dir, base_dir=previous)
    # intermediate Trainer checkpoints (optimizer state) are only for resuming this stage
    if int(os.environ.get("RANK", "0")) == 0:
        shutil.rmtree(out_dir / "trainer", ignore_errors=True)
        console.print(f"{stage.name} → {final}")
