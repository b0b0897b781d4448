"""`scitune score scienceqa` and `scitune curate scienceqa` on the real third-party files."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.shared_data


def _scitune(*args):
    result = subprocess.run([sys.executable, "-m", "scitune.cli", *map(str, args)], capture_output=True,
                            text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_score_the_gpt3_run_from_the_command_line(shared_data_dir, tmp_path):
    data = shared_data_dir / "scienceqa"
    out = _scitune("score", "scienceqa", "--problems", data / "llava_test_CQM-A.json",
                   "--predictions", data / "gpt3_test_QCM-ALE_predictions.json",
                   "--output-json", tmp_path / "s.json", "--output-md", tmp_path / "s.md")
    assert "75.17" in out
    result = json.loads((tmp_path / "s.json").read_text())
    assert result["accuracy"]["Avg"] == 75.17 and result["accuracy"]["LAN"] is None
    table = (tmp_path / "s.md").read_text()
    assert "| **gpt3_test_QCM-ALE_predictions** | n/a | n/a | n/a | 74.68 | 67.43 | 79.93 | n/a | n/a | 75.17 |" in table


def test_official_split_list_selects_problems(shared_data_dir, tmp_path):
    data = shared_data_dir / "scienceqa"
    _scitune("curate", "scienceqa", "--problems", data / "problems_sample.json", "--splits", data / "pid_splits.json",
             "--image-root", data / "images", "--set", "format=QCM-LEPA", "--set", "val_split=val",
             "--output-dir", tmp_path)
    lines = [json.loads(line) for line in (tmp_path / "test.jsonl").read_text().splitlines()]
    assert len(lines) == 50
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert set(manifest["files"]) == {"train.jsonl", "val.jsonl", "test.jsonl"}
    assert manifest["files"]["test.jsonl"]["count"] == 50, "every test image of the sample is at hand"
    assert manifest["image_root"] == str((data / "images").resolve())
    with_image = [line for line in lines if line["image"]]
    assert len(with_image) == 24 and all(line["conversations"][0]["value"].startswith("<image>\n") for line in with_image)
    assert all(line["conversations"][1]["value"].endswith(".") and "###\nANSWER: " in line["conversations"][1]["value"]
               for line in lines)
    for line in with_image:  # every test image of the sample is among the 300 shipped ones
        assert (data / "images" / line["image"]).is_file()


def test_evaluate_a_checkpoint_on_real_problems_and_images(shared_data_dir, tiny_llava, tmp_path):
    model, processor = tiny_llava
    model.save_pretrained(tmp_path / "ckpt")
    processor.save_pretrained(tmp_path / "ckpt")
    data = shared_data_dir / "scienceqa"
    out = _scitune("evaluate", "scienceqa", "--model", tmp_path / "ckpt", "--problems", data / "problems_sample.json",
                   "--splits", data / "pid_splits.json", "--split", "test", "--image-root", data / "images",
                   "--output-dir", tmp_path / "eval", "--max-new-tokens", "6", "--batch-size", "8")
    assert "| LLaMA-SciTune-13B |" in out
    result = json.loads((tmp_path / "eval" / "scores.json").read_text())
    assert result["counts"]["Avg"] == 50 and result["counts"]["IMG"] == 24 and result["missing"] == 0
    predictions = [json.loads(line) for line in (tmp_path / "eval" / "predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == 50 and all(p["error"] is None for p in predictions), "every real image must load"


def test_evaluate_only_a_category(shared_data_dir, tiny_llava, tmp_path):
    model, processor = tiny_llava
    model.save_pretrained(tmp_path / "ckpt")
    processor.save_pretrained(tmp_path / "ckpt")
    data = shared_data_dir / "scienceqa"
    _scitune("evaluate", "scienceqa", "--model", tmp_path / "ckpt", "--problems", data / "problems_sample.json",
             "--splits", data / "pid_splits.json", "--split", "test", "--image-root", data / "images",
             "--output-dir", tmp_path / "eval", "--max-new-tokens", "4", "--subset", "IMG")
    result = json.loads((tmp_path / "eval" / "scores.json").read_text())
    assert result["counts"]["Avg"] == result["counts"]["IMG"] == 24


def test_predict_reads_llavas_own_test_file(shared_data_dir, tiny_llava, tmp_path):
    """LLaVA's llava_test_CQM-A.json: a JSON array whose text-only items have no "image" key and no
    provenance. It is read as it is; the provenance of each prediction's item is recorded as unknown."""
    model, processor = tiny_llava
    model.save_pretrained(tmp_path / "ckpt")
    processor.save_pretrained(tmp_path / "ckpt")
    data = shared_data_dir / "scienceqa"
    llava = json.loads((data / "llava_test_CQM-A.json").read_text())
    shipped = {p.name for p in (data / "images" / "test").iterdir()}
    first_text = next(i for i, item in enumerate(llava) if "image" not in item)
    first_image = next(i for i, item in enumerate(llava) if item.get("image", "").split("/")[0] in shipped)
    subset = tmp_path / "subset.json"  # a slice of the real file, in its own format
    subset.write_text(json.dumps([llava[first_text], llava[first_image]]))
    out = _scitune("predict", "--model", tmp_path / "ckpt", "--data", subset, "--image-root", data / "images" / "test",
                   "--output", tmp_path / "p.jsonl", "--max-new-tokens", "3")
    assert "2 new predictions" in out and "0 failed" in out
    from scitune.sources.instructions import read_instructions

    items = list(read_instructions(data / "llava_test_CQM-A.json"))
    assert len(items) == 4241 and sum(1 for i in items if i.image) == 2017
    assert items[first_text].source == {"provenance": "unknown"} and items[first_text].image is None
