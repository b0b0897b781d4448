"""`scitune run` on corpora read from disk: figures through the figure curation, ScienceQA problems
by official split, images read in place from their own folders; and a ScienceQA-only recipe."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scitune.contracts import write_jsonl
from scitune.sources.demo import generate_corpus

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _recipe(tmp_path, corpus: dict, figures: dict | None = None, questions: dict | None = None) -> Path:
    recipe = yaml.safe_load((ROOT / "recipes" / "tiny.yaml").read_text())
    recipe["corpus"] = corpus
    recipe["curate"] = {"figures": {"components": "CTOM", **(figures or {})},
                        "questions": {"format": "QCM-LEPA", **(questions or {})}}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def _run(recipe: Path, out: Path) -> str:
    result = subprocess.run([sys.executable, "-m", "scitune.cli", "run", str(recipe), "--output-dir", str(out)],
                            capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_run_on_figure_records_and_an_official_problems_file(tmp_path):
    records, problems = generate_corpus(tmp_path / "figs", 3, 0.3, 64, seed=0)
    write_jsonl(tmp_path / "figs" / "figures.jsonl", records)
    official = {p.pid: {**p.model_dump(exclude={"pid"}), "image": "image.png" if p.image else None} for p in problems}
    for p in problems:  # the official layout: {split}/{pid}/image.png
        if p.image:
            target = tmp_path / "sqa" / p.split / p.pid / "image.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((tmp_path / "figs" / p.image).read_bytes())
    (tmp_path / "sqa" / "problems.json").write_text(json.dumps(official))
    recipe = _recipe(tmp_path, {
        "figures": {"path": str(tmp_path / "figs" / "figures.jsonl"), "image_root": str(tmp_path / "figs")},
        "problems": {"paths": [str(tmp_path / "sqa" / "problems.json")], "images": str(tmp_path / "sqa")}},
        figures={"ocr": "none", "test_fraction": 0.3})
    out = tmp_path / "run"
    _run(recipe, out)
    quality = json.loads((out / "curate" / "figures" / "quality.json").read_text())
    assert quality["records_in"] == 18 and quality["adds_up"]
    scores = json.loads((out / "eval" / "stage2" / "scores.json").read_text())
    test_problems = sum(p.split == "test" for p in problems)
    assert scores["questions"]["counts"]["Avg"] == test_problems and scores["questions"]["missing"] == 0
    assert scores["figures"]["figure_types"]["count"] == quality["kept_per_split"].get("test", 0) > 0
    predictions = (out / "eval" / "stage2" / "questions" / "predictions.jsonl").read_text().splitlines()
    assert all(json.loads(line)["error"] is None for line in predictions), "every image found in its own folder"
    assert "Corpora: figures from" in (out / "report.md").read_text()


@pytest.mark.shared_data
def test_run_on_real_arxiv_figures_and_scienceqa(shared_data_dir, tmp_path):
    figures = sorted((shared_data_dir / "scicap_figures").glob("*.png"))
    challenge = {"images": [{"id": n, "file_name": f.name, "figure_type": "Graph Plot"} for n, f in enumerate(figures)],
                 "annotations": [{"image_id": n, "caption_no_index": f"Result {n} of the paper.", "mention": [],
                                  "paragraph": [f"As Figure {n} shows, the method improves."]}
                                 for n in range(len(figures))]}
    (tmp_path / "val.json").write_text(json.dumps(challenge))
    data = shared_data_dir / "scienceqa"
    recipe = _recipe(tmp_path, {
        "figures": {"path": str(tmp_path / "val.json"), "image_root": str(shared_data_dir / "scicap_figures")},
        "problems": {"paths": [str(data / "problems_sample.json")], "splits": str(data / "pid_splits.json"),
                     "images": str(data / "images")}}, figures={"test_fraction": 0.4})
    out = tmp_path / "run"
    _run(recipe, out)
    quality = json.loads((out / "curate" / "figures" / "quality.json").read_text())
    assert quality["records_kept"] == len(figures) and quality["ocr"]["engine:figure"] == len(figures)
    scores = json.loads((out / "eval" / "stage2" / "scores.json").read_text())
    assert scores["questions"]["counts"]["Avg"] == 50 and scores["questions"]["counts"]["IMG"] == 24


@pytest.mark.shared_data
def test_scienceqa_only_recipe_tunes_stage_2_on_real_problems(shared_data_dir, tmp_path):
    """The most common real use: no figures, one stage on ScienceQA (it crashed at evaluate:base)."""
    data = shared_data_dir / "scienceqa"
    recipe = yaml.safe_load((ROOT / "recipes" / "tiny.yaml").read_text())
    recipe["corpus"] = {"problems": {"paths": [str(data / "problems_sample.json")],
                                     "splits": str(data / "pid_splits.json"), "images": str(data / "images")}}
    recipe["curate"] = {"questions": {"format": "QCM-A"}}
    recipe["stages"] = [{**recipe["stages"][1], "name": "scienceqa"}]
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "run"
    _run(path, out)
    assert not (out / "curate" / "figures").exists()
    scores = json.loads((out / "eval" / "scienceqa" / "scores.json").read_text())
    assert "figures" not in scores and scores["questions"]["counts"]["Avg"] == 50
    assert scores["questions"]["rule"] == "official", "QCM-A answers are read by the ScienceQA evaluator's rule"
    report = (out / "report.md").read_text()
    assert "| after scienceqa |" in report and "figure type" not in report
