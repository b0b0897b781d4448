"""The shipped ScienceQA-only recipe (recipes/scienceqa-embedded.yaml): what it promises, and a run of
it on the real problems at hand, with a tiny model in place of the embedded one."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scitune.config import load_recipe
from scitune.evaluate.answer_rules import rule_for_format

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "scienceqa-embedded.yaml"


def test_the_recipe_tunes_the_embedded_model_on_the_official_release_in_one_stage():
    recipe = load_recipe(RECIPE)
    assert recipe.model.language_model == "embedded:smollm2-135m-instruct"
    assert recipe.corpus.figures is None and recipe.corpus.demo is None
    problems = recipe.corpus.problems
    assert [p.name for p in problems.paths] == ["problems.json"] and problems.splits.name == "pid_splits.json"
    assert problems.images.name == "images", "the release's {split}/{pid}/image.png layout"
    assert [(s.mixture, s.train["language_model"]) for s in recipe.stages] == [({"questions": 1.0}, "full")]
    questions = recipe.curate.questions
    assert (questions.train_split, questions.val_split, questions.test_split) == ("train", "val", "test")
    assert rule_for_format(questions.format) == "official", "scored by ScienceQA's own answer rule"


@pytest.mark.slow
@pytest.mark.shared_data
def test_the_recipe_runs_on_the_problems_at_hand(shared_data_dir, tmp_path):
    """The shared copy has no train image: with missing_images=text_only all 1,041 train problems
    train (521 without their image); the evaluation scores the test problems whose image is at hand
    and the text-only ones, and says how many it could not."""
    data = shared_data_dir / "scienceqa"
    tiny = {"model.language_model": "tiny", "model.tiny_lm_hidden_size": "64", "model.vision.image_size": "32",
            "model.vision.hidden_size": "32", "model.vision.num_hidden_layers": "1",
            "model.vision.num_attention_heads": "2", "stages.0.epochs": "0.1", "stages.0.learning_rate": "1e-3",
            "evaluate.max_new_tokens_questions": "4",
            "corpus.problems.paths": json.dumps([str(data / "problems_sample.json")]),
            "corpus.problems.splits": str(data / "pid_splits.json"), "corpus.problems.images": str(data / "images"),
            "curate.questions.missing_images": "text_only"}
    sets = [arg for key, value in tiny.items() for arg in ("--set", f"{key}={value}")]
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "scitune.cli", "run", str(RECIPE), "--output-dir", str(out), *sets],
                            capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    manifest = json.loads((out / "curate" / "questions" / "manifest.json").read_text())
    assert {name: info["count"] for name, info in manifest["files"].items()} == {
        "train.jsonl": 50, "val.jsonl": 29, "test.jsonl": 50}
    assert manifest["image_checks"] == {"train": {"text_only": 22}, "val": {"missing_image": 21}, "test": {}}
    scores = json.loads((out / "eval" / "scienceqa" / "scores.json").read_text())["questions"]
    assert scores["counts"]["Avg"] == 50 and scores["counts"]["IMG"] == 24 and scores["rule"] == "official"
    predictions = [json.loads(line) for line in
                   (out / "eval" / "scienceqa" / "questions" / "predictions.jsonl").read_text().splitlines()]
    assert all(p["error"] is None for p in predictions), "every test image of the sample is at hand"
