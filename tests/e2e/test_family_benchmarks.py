"""The evaluation commands on released-model families (tiny random models with their real processors):
`scitune evaluate scienceqa` on real ScienceQA test problems (real images of many sizes, so
dynamic-resolution families see different image token counts in one batch) and `scitune evaluate
chartqa` on a release laid out as published — the same answers at every batch size."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from scitune.model.tiny_families import save_tiny

ROOT = Path(__file__).resolve().parents[2]
ENTRY = "import sys, scitune.cli.benchmarks; from scitune.cli import app; sys.argv[0] = 'scitune'; app()"
FAMILIES = ["qwen2_vl", "idefics3", "gemma3"]  # 3-D rope and dynamic resolution, image tiles, bidirectional images

pytestmark = pytest.mark.slow


def _scitune(*args):
    result = subprocess.run([sys.executable, "-c", ENTRY, *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                            timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def _texts(out: Path) -> dict[str, str]:
    return {r["id"]: r["text"] for r in map(json.loads, (out / "predictions.jsonl").read_text().splitlines())}


@pytest.fixture(scope="module", params=FAMILIES)
def checkpoint(request, tmp_path_factory):
    return request.param, save_tiny(request.param, tmp_path_factory.mktemp(request.param) / "model", seed=5, scale=0.3)


@pytest.mark.shared_data
def test_scienceqa_on_real_problems_and_images(checkpoint, shared_data_dir, tmp_path):
    name, model = checkpoint
    data = shared_data_dir / "scienceqa"
    outs = {}
    for batch in (16, 1):
        outs[batch] = tmp_path / f"bs{batch}"
        _scitune("evaluate", "scienceqa", "--model", model, "--problems", data / "problems_sample.json",
                 "--splits", data / "pid_splits.json", "--split", "test", "--image-root", data / "images",
                 "--output-dir", outs[batch], "--format", "QCM-A", "--max-new-tokens", "6", "--batch-size", batch,
                 "--dtype", "fp32")  # bf16 (this CPU's default) rounds batch shapes differently: near ties flip
    scores = json.loads((outs[16] / "scores.json").read_text())
    assert scores["counts"]["Avg"] == 50 and scores["failed"] == 0
    predictions = [json.loads(line) for line in (outs[16] / "predictions.jsonl").read_text().splitlines()]
    sizes = {Image.open(data / "images" / "test" / p["id"] / "image.png").size for p in predictions
             if (data / "images" / "test" / p["id"] / "image.png").is_file()}
    assert len(sizes) > 3, "real figures of many sizes"
    assert _texts(outs[1]) == _texts(outs[16])
    assert len(set(_texts(outs[16]).values())) > 1, "answers must depend on the question"


def test_chartqa_release(checkpoint, tmp_path):
    name, model = checkpoint
    test = tmp_path / "ChartQA Dataset" / "test"
    (test / "png").mkdir(parents=True)
    for n, (size, color) in enumerate([((48, 32), "red"), ((120, 60), "green"), ((30, 90), "blue")]):
        Image.new("RGB", size, color).save(test / "png" / f"{n}.png")
    questions = ["What is the value of the red bar?", "How many bars are shown?", "Is the sum above 40?",
                 "Which country is the largest?", "What is the median value?"]
    (test / "test_human.json").write_text(json.dumps(
        [{"imgname": f"{n % 3}.png", "query": q, "label": str(n)} for n, q in enumerate(questions)]))
    (test / "test_augmented.json").write_text(json.dumps(
        [{"imgname": f"{n % 3}.png", "query": q, "label": "Yes"} for n, q in enumerate(questions[:3])]))
    texts = {}
    for batch in (3, 1):
        out = tmp_path / f"eval{batch}"
        printed = _scitune("evaluate", "chartqa", "--model", model, "--data", test, "--output-dir", out,
                           "--max-new-tokens", "5", "--batch-size", batch, "--dtype", "fp32").stdout
        assert "relaxed accuracy (%)" in printed
        scores = json.loads((out / "scores.json").read_text())
        assert scores["total"] == 8 and scores["failed"] == 0
        texts[batch] = _texts(out)
    assert texts[1] == texts[3]
