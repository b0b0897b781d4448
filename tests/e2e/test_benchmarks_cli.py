"""`scitune evaluate chartqa|mathvista` and `scitune score chartqa` end to end on a tiny random model:
the files people read, a rerun that resumes a torn predictions file, answers that do not depend on the
batch size, and a local model as MathVista's answer extractor."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from scitune.evaluate.mathvista_extract import clean_model_extraction as mathvista_clean

ROOT = Path(__file__).resolve().parents[2]
# The benchmark commands register themselves when their module is imported.
ENTRY = "import sys, scitune.cli.benchmarks; from scitune.cli import app; sys.argv[0] = 'scitune'; app()"

pytestmark = pytest.mark.slow


def _scitune(*args, check=True):
    result = subprocess.run([sys.executable, "-c", ENTRY, *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                            timeout=600)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def checkpoint(tiny_model_config, tmp_path_factory):
    """A tiny model with large random weights: a freshly initialised one says nothing whatever it is
    asked, which would leave batching and answer extraction untested."""
    from scitune.model.build import build_llava

    model, processor = build_llava(tiny_model_config, seed=7)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
    path = tmp_path_factory.mktemp("ckpt")
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def _texts(out: Path) -> dict[str, str]:
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    return {r["id"]: r["text"] for r in records}


def _chartqa_release(root: Path) -> Path:
    test = root / "ChartQA Dataset" / "test"
    (test / "png").mkdir(parents=True)
    for n, color in enumerate(["red", "green", "blue", "white"]):
        Image.new("RGB", (48, 32), color).save(test / "png" / f"{n}.png")
    questions = ["What is the value of the red bar?", "How many bars are shown?", "Is the sum above 40?",
                 "Which country is the largest?", "What is the median value?"]
    human = [{"imgname": f"{n % 4}.png", "query": q, "label": str(n)} for n, q in enumerate(questions)]
    augmented = [{"imgname": f"{n % 4}.png", "query": q, "label": "Yes"} for n, q in enumerate(questions[:3])]
    augmented.append({"imgname": "missing.png", "query": "What is shown?", "label": "1"})
    augmented.append({"query": "A record without its chart", "label": "1"})
    (test / "test_human.json").write_text(json.dumps(human))
    (test / "test_augmented.json").write_text(json.dumps(augmented))
    return test


def test_chartqa_evaluate_resume_batch_invariance_and_score(checkpoint, tmp_path):
    data = _chartqa_release(tmp_path)
    out = tmp_path / "eval"
    args = ["evaluate", "chartqa", "--model", checkpoint, "--data", data, "--output-dir", out, "--max-new-tokens", "5",
            "--batch-size", "3"]
    printed = _scitune(*args).stdout
    assert "relaxed accuracy (%)" in printed and "ChartQA test" in printed
    scores = json.loads((out / "scores.json").read_text())
    assert scores["total"] == 9 and scores["failed"] == 1 and scores["missing"] == 0
    assert scores["rejected_records"] == ["augmented-4: test_augmented.json entry 4: no imgname"]
    assert {k: v["total"] for k, v in scores["breakdowns"]["split"].items()} == {"human": 5, "augmented": 4}
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == 9
    assert len({p["text"] for p in predictions if not p["error"]}) > 1, "answers must depend on the question"
    assert "missing.png does not exist" in next(p["error"] for p in predictions if p["id"] == "augmented-3")
    page = (out / "report.html").read_text()
    assert "Accuracy by split" in page and "plots/breakdown.png" in page and page.count("data:image/png;base64,") >= 4
    assert "| human |" in (out / "scores.md").read_text()

    # Killed mid-write: keep 4 answers and half a line; the rerun predicts the other 5 and scores the same.
    lines = (out / "predictions.jsonl").read_text().splitlines()
    (out / "predictions.jsonl").write_text("\n".join(lines[:4]) + "\n" + lines[4][:20])
    _scitune(*args)
    assert json.loads((out / "scores.json").read_text()) == scores
    again = _texts(out)
    assert again == {p["id"]: p["text"] for p in predictions}

    # One prompt at a time gives the same answers as batches of three.
    single = tmp_path / "single"
    _scitune(*args[:-2], "--batch-size", "1", "--output-dir", single)
    assert _texts(single) == again

    # Scoring the same predictions as files made elsewhere gives the same numbers.
    _scitune("score", "chartqa", "--data", data, "--predictions", out / "predictions.jsonl", "--output-dir",
             tmp_path / "scored")
    rescored = json.loads((tmp_path / "scored" / "scores.json").read_text())
    assert (rescored["accuracy"], rescored["breakdowns"]) == (scores["accuracy"], scores["breakdowns"])
    assert rescored["rejected_records"] == scores["rejected_records"]


def test_mathvista_with_a_local_model_as_the_answer_extractor(checkpoint, tmp_path):
    meta = {"split": "testmini", "language": "english", "img_width": 40, "img_height": 30, "source": "FigureQA",
            "category": "math-targeted-vqa", "task": "figure question answering", "context": "bar chart",
            "grade": "daily life", "skills": ["statistical reasoning"]}
    problems = {
        "1": {"question": "How many bars are there?", "image": "images/1.png", "choices": None, "unit": None,
              "precision": None, "answer": "3", "question_type": "free_form", "answer_type": "integer", "pid": "1",
              "metadata": meta},
        "2": {"question": "Is the red bar the tallest?", "image": "images/2.png", "choices": ["Yes", "No"],
              "unit": None, "precision": None, "answer": "Yes", "question_type": "multi_choice", "answer_type": "text",
              "pid": "2", "metadata": {**meta, "skills": ["logical reasoning", "statistical reasoning"]}},
    }
    (tmp_path / "images").mkdir()
    for pid in problems:
        Image.new("RGB", (40, 30), "red").save(tmp_path / "images" / f"{pid}.png")
    (tmp_path / "testmini.json").write_text(json.dumps(problems))
    out = tmp_path / "eval"
    _scitune("evaluate", "mathvista", "--model", checkpoint, "--data", tmp_path / "testmini.json", "--output-dir", out,
             "--max-new-tokens", "6", "--extractor", "model")
    scores = json.loads((out / "scores.json").read_text())
    assert scores["extractor"] == f"model:{checkpoint.name}" and scores["total"] == 2
    assert set(scores["official"]) == {"average", "question_type", "answer_type", "language", "source", "category",
                                       "task", "context", "grade", "skills"}
    assert scores["official"]["skills"]["statistical reasoning"]["total"] == 2
    responses = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert responses[0]["prompt"].startswith("<image>\nHint: Please answer the question")
    assert all(r["text"].strip() for r in responses)
    extractions = [json.loads(line) for line in (out / "extractions.jsonl").read_text().splitlines()]
    assert len(extractions) == 2
    by_id = {r["id"]: r["text"] for r in responses}
    for extraction in extractions:  # the extractor saw the question and the response, text only
        assert extraction["prompt"].endswith("Extracted answer:") and "<image>" not in extraction["prompt"]
        assert f"Model response: {by_id[extraction['id']]}" in extraction["prompt"]
    assert scores["extractions"] == {e["id"]: mathvista_clean(e["text"]) for e in extractions}


def _png_bytes(color, size=(40, 30)) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def test_parquet_releases_of_ai2d_mmmu_and_scifibench(checkpoint, tmp_path):
    """Each command on two rows of its Hugging Face parquet (schemas as in the unit tests): images are
    written once under the output folder and every file is there."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    png = {"bytes": _png_bytes("red"), "path": None}
    ai2d = tmp_path / "ai2d" / "data"
    ai2d.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(
        [{"question": "Which stage follows the egg?", "options": ["larva", "adult", "pupa", "egg"], "answer": "0",
          "image": png}, {"question": "What is A?", "options": ["ears", "nose"], "answer": "1", "image": png}],
        schema=pa.schema([("question", pa.string()), ("options", pa.list_(pa.string())), ("answer", pa.string()),
                          ("image", image)])), ai2d / "test-00000-of-00001.parquet")
    mmmu = tmp_path / "MMMU" / "Physics"
    mmmu.mkdir(parents=True)
    fields = [("id", pa.string()), ("question", pa.string()), ("options", pa.string()), ("explanation", pa.string())]
    fields += [(f"image_{n}", image) for n in range(1, 8)]
    fields += [(k, pa.string()) for k in ("img_type", "answer", "topic_difficulty", "question_type", "subfield")]
    rows = [{"id": "validation_Physics_1", "question": "<image 1> How far?", "options": "['1 m', '2 m']", "answer": "A",
             "question_type": "multiple-choice"},
            {"id": "validation_Physics_2", "question": "<image 1> How fast?", "options": "[]", "answer": "3",
             "question_type": "open"}]
    rows = [{**r, "explanation": "", "image_1": png, "img_type": "['Plots']", "topic_difficulty": "Easy",
             "subfield": "Mechanics"} for r in rows]
    pq.write_table(pa.Table.from_pylist(rows, schema=pa.schema(fields)), mmmu / "validation-00000-of-00001.parquet")
    scifi = tmp_path / "scifibench"
    scifi.mkdir()
    options = [f"{chr(65 + n)}) caption {n}" for n in range(5)]
    pq.write_table(pa.Table.from_pylist(
        [{"ID": n, "Question": "Which caption best matches the image?", "Options": options, "Answer": "C",
          "Category": "cs.LG", "Images": [png]} for n in range(2)],
        schema=pa.schema([("ID", pa.int64()), ("Question", pa.string()), ("Options", pa.list_(pa.string())),
                          ("Answer", pa.string()), ("Category", pa.string()), ("Images", pa.list_(image))])),
        scifi / "CS_Figure2Caption-00000-of-00001.parquet")
    for name, data, extra in (("ai2d", ai2d, []), ("mmmu", tmp_path / "MMMU", []),
                              ("scifibench", scifi, ["--extractor", "model"])):
        out = tmp_path / f"eval-{name}"
        _scitune("evaluate", name, "--model", checkpoint, "--data", data, "--output-dir", out, "--max-new-tokens",
                 "4", *extra)
        scores = json.loads((out / "scores.json").read_text())
        assert scores["total"] == 2 and scores["failed"] == 0, name
        assert (out / "report.html").is_file() and (out / "scores.md").is_file()
        assert len(list((out / "images").rglob("*.png"))) == 1, name   # one picture, stored once
    assert json.loads((tmp_path / "eval-mmmu" / "scores.json").read_text())["breakdowns"]["discipline"] == {
        "Science": json.loads((tmp_path / "eval-mmmu" / "scores.json").read_text())["breakdowns"]["subject"]["Physics"]}
    assert json.loads((tmp_path / "eval-scifibench" / "scores.json").read_text())["extractor"].startswith("model:")
