"""`scitune evaluate figures` on FigureRecords: predictions, type accuracy with a confusion matrix,
caption metrics, an HTML page with the figures, and a clear refusal of a folder that is no model."""

import json
import subprocess
import sys
from pathlib import Path

from scitune.contracts import write_jsonl
from scitune.sources.demo import generate_corpus

ROOT = Path(__file__).resolve().parents[2]


def _scitune(*args, check=True):
    result = subprocess.run([sys.executable, "-m", "scitune.cli", *map(str, args)], capture_output=True,
                            text=True, cwd=ROOT, timeout=300)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_evaluate_figures_from_records(tiny_llava, tmp_path):
    model, processor = tiny_llava
    model.save_pretrained(tmp_path / "ckpt")
    processor.save_pretrained(tmp_path / "ckpt")
    records, _ = generate_corpus(tmp_path / "corpus", 2, 0.3, 64, seed=1)
    write_jsonl(tmp_path / "figures.jsonl", records)
    args = ["evaluate", "figures", "--model", tmp_path / "ckpt", "--data", tmp_path / "figures.jsonl",
            "--image-root", tmp_path / "corpus", "--output-dir", tmp_path / "eval", "--max-new-tokens", "6"]
    out = _scitune(*args).stdout
    assert "figure type (%)" in out and "CIDEr" in out
    result = json.loads((tmp_path / "eval" / "scores.json").read_text())
    assert result["figure_types"]["count"] == 12 and result["captions"]["count"] == 12
    assert result["figure_types"]["chance"] == round(100 / 6, 2)
    assert sum(sum(row.values()) for row in result["figure_types"]["confusion"].values()) == 12
    page = (tmp_path / "eval" / "report.html").read_text()
    assert "plots/confusion.png" in page and page.count("data:image/png;base64,") >= 6
    assert (tmp_path / "eval" / "plots" / "confusion.png").stat().st_size > 5000
    # A rerun generates nothing new and reports the same scores.
    _scitune(*args)
    assert json.loads((tmp_path / "eval" / "scores.json").read_text()) == result
    assert len((tmp_path / "eval" / "predictions.jsonl").read_text().splitlines()) == 24


def test_a_folder_that_is_no_llava_model_is_refused(tmp_path):
    (tmp_path / "lm").mkdir()
    (tmp_path / "lm" / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (tmp_path / "d.jsonl").write_text("")
    result = _scitune("evaluate", "figures", "--model", tmp_path / "lm", "--data", tmp_path / "d.jsonl",
                      "--output-dir", tmp_path / "eval", check=False)
    assert result.returncode == 2 and "holds a 'llama' model, not a Llava model" in " ".join(result.stdout.split())
