"""Benchmarks end to end: instructions from a benchmark's records, predictions, scores, files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from scitune.contracts import Problem
from scitune.curate.scienceqa import problem_instructions
from scitune.evaluate.generate import predict
from scitune.evaluate.scienceqa import load_answers, markdown_table, score
from scitune.model.build import load_llava


def evaluate_scienceqa(
    model_dir: Path,
    problems: list[Problem],
    image_root: Path,
    out_dir: Path,
    prompt_format: str = "QCM-LEPA",
    batch_size: int = 16,
    max_new_tokens: int = 96,
    system_prompt: str = "",
    on_batch: Callable[[int], None] | None = None,
) -> dict:
    """Predict every problem in PROMPT_FORMAT and score it; writes OUT_DIR/{predictions.jsonl,
    scores.json, scores.md}. Resumes: problems already predicted are not generated again."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model, processor = load_llava(model_dir)
    instructions = list(problem_instructions(problems, prompt_format))
    predictions = out_dir / "predictions.jsonl"
    predict(model, processor, instructions, image_root, predictions, system_prompt, str(model_dir), max_new_tokens,
            batch_size, on_batch=on_batch)
    result = score(problems, load_answers(predictions))
    result["model"] = str(model_dir)
    result["prompt_format"] = prompt_format
    (out_dir / "scores.json").write_text(json.dumps(result, indent=2))
    (out_dir / "scores.md").write_text(markdown_table(result, Path(model_dir).name))
    return result
