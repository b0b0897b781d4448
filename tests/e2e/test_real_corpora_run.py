"""`scitune run` on corpora read from disk (corpus.kind = files): figures through `curate figures`,
ScienceQA problems by official split, images read in place from their own folders."""

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


def _recipe(tmp_path, corpus: dict) -> Path:
    recipe = yaml.safe_load((ROOT / "recipes" / "tiny.yaml").read_text())
    recipe["corpus"] = corpus
    recipe["curate"] = {"components": "CTOM", "question_format": "QCM-LEPA"}
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
        "kind": "files",
        "figures": {"path": str(tmp_path / "figs" / "figures.jsonl"), "image_root": str(tmp_path / "figs")},
        "figure_curation": {"ocr": "none", "test_fraction": 0.3},
        "problems": [str(tmp_path / "sqa" / "problems.json")], "problem_images": str(tmp_path / "sqa")})
    out = tmp_path / "run"
    _run(recipe, out)
    quality = json.loads((out / "corpus" / "figures" / "quality.json").read_text())
    assert quality["records_in"] == 18 and quality["adds_up"]
    scores = json.loads((out / "eval" / "stage2" / "scores.json").read_text())
    test_problems = sum(p.split == "test" for p in problems)
    assert scores["questions"]["counts"]["Avg"] == test_problems and scores["questions"]["missing"] == 0
    assert scores["figure_types"]["count"] == quality["kept_per_split"].get("test", 0) > 0
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
        "kind": "files",
        "figures": {"path": str(tmp_path / "val.json"), "image_root": str(shared_data_dir / "scicap_figures")},
        "figure_curation": {"test_fraction": 0.4},
        "problems": [str(data / "problems_sample.json")], "problem_splits": str(data / "pid_splits.json"),
        "problem_images": str(data / "images")})
    out = tmp_path / "run"
    _run(recipe, out)
    quality = json.loads((out / "corpus" / "figures" / "quality.json").read_text())
    assert quality["records_kept"] == len(figures) and quality["ocr"]["filled"] == len(figures)
    scores = json.loads((out / "eval" / "stage2" / "scores.json").read_text())
    assert scores["questions"]["counts"]["Avg"] == 50 and scores["questions"]["counts"]["IMG"] == 24
