"""ChartQA: the 5% relaxed accuracy on hand-made cases, and the readers on small files in each
published layout (official JSON + png/, HuggingFaceM4/ChartQA and lmms-lab/ChartQA parquet)."""

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from scitune.evaluate import chartqa
from scitune.sources.benchmarks import chartqa as source
from scitune.sources.benchmarks.chartqa import ChartQAItem
from scitune.sources.images import load_image

IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def _png(color) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (24, 16), color).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("target, prediction, right", [
    ("5", "4.9", True),          # 2% off
    ("5", "5.25", True),         # exactly 5% off is still right (≤)
    ("5", "5.3", False),         # 6% off
    ("-20", "-19.2", True),      # relative to |gold|
    ("0.45", "45%", True),       # a percent sign divides by 100 …
    ("45", "45%", False),        # … so "45%" is not 45
    ("45%", "0.45", True),
    ("0", "0.0", False),         # a zero gold answer needs the same text
    ("0", "0", True),
    ("Yes", "yes", True),        # text: exact, case ignored
    ("Yes", "Yes.", False),
    ("green line", "Green Line", True),
    ("1.2", "1,2", False),       # not a number to float(): exact text
    ("2014", "2013", True),      # years are numbers too: within 5%, as the official metric has it
])
def test_relaxed_correctness(target, prediction, right):
    assert chartqa.relaxed_correctness(target, prediction) is right


def test_any_label_may_accept_and_whitespace_is_stripped():
    item = ChartQAItem(id="human-0", image="a.png", question="q", labels=["Lamb", "Corn"], split="human")
    assert chartqa.is_correct(item, " corn\n") and not chartqa.is_correct(item, "Beef")


def test_score_by_split_with_missing_and_failed():
    items = [ChartQAItem(id=f"{s}-{n}", image="a.png", question="q", labels=["10"], split=s)
             for s in ("human", "augmented") for n in range(2)]
    result = chartqa.score(items, {"human-0": "10.4", "human-1": "12", "augmented-0": ""}, failed={"augmented-0"})
    assert result["accuracy"] == 25.0 and result["correct"] == 1 and result["total"] == 4
    assert result["breakdowns"]["split"] == {"human": {"accuracy": 50.0, "correct": 1, "total": 2},
                                             "augmented": {"accuracy": 0.0, "correct": 0, "total": 2}}
    assert result["missing"] == 1 and result["failed"] == 1 and result["outcomes"]["human-0"] == 1


def test_prompt_is_lmms_evals_default():
    item = ChartQAItem(id="human-0", image="a.png", question="How many bars?", labels=["3"], split="human")
    assert chartqa.instruction(item).conversations[0].value == (
        "<image>\nHow many bars?\nAnswer the question using a single word or phrase.")


def test_official_json_release(tmp_path):
    test = tmp_path / "ChartQA Dataset" / "test"
    (test / "png").mkdir(parents=True)
    for name, color in (("41699051005347.png", "red"), ("8127.png", "blue")):
        (test / "png" / name).write_bytes(_png(color))
    (test / "test_human.json").write_text(json.dumps([
        {"imgname": "41699051005347.png", "query": "How many food item is shown in the bar graph?", "label": "14"},
        {"imgname": "8127.png", "query": "What's the value of the lowest bar?", "label": "23"},
        {"query": "no image name", "label": "1"}]))
    (test / "test_augmented.json").write_text(json.dumps([
        {"imgname": "8127.png", "query": "Which bar is blue?", "label": "Lamb"}]))
    data = source.load(test)
    assert list(data.items) == ["human-0", "human-1", "augmented-0"]
    assert data.image_root == test / "png" and data.items["augmented-0"].split == "augmented"
    assert load_image(data.image_root, data.items["human-1"].image, "human-1").size == (24, 16)
    assert data.rejected == [("human-2", "test_human.json entry 2: no imgname")]
    with pytest.raises(FileNotFoundError, match="val_human.json"):
        source.load(test, split="val")


def _hf_metadata(features: dict) -> dict:
    # What `datasets` writes into its parquet files (their schema is read, never required).
    return {b"huggingface": json.dumps({"info": {"features": features}}).encode()}


def test_huggingfacem4_parquet(tmp_path):
    # HuggingFaceM4/ChartQA: image, query, label (list of string), human_or_machine (ClassLabel).
    schema = pa.schema([("image", IMAGE), ("query", pa.string()), ("label", pa.list_(pa.string())),
                        ("human_or_machine", pa.int64())]).with_metadata(_hf_metadata({
                            "image": {"_type": "Image"}, "query": {"dtype": "string", "_type": "Value"},
                            "label": {"feature": {"dtype": "string", "_type": "Value"}, "_type": "Sequence"},
                            "human_or_machine": {"names": ["human", "machine"], "_type": "ClassLabel"}}))
    rows = [{"image": {"bytes": _png("red"), "path": None}, "query": "Value of Lamb?", "label": ["0.57"],
             "human_or_machine": 0},
            {"image": {"bytes": _png("blue"), "path": None}, "query": "Largest?", "label": ["Corn"],
             "human_or_machine": 1},
            {"image": {"bytes": _png("green"), "path": None}, "query": "?", "label": ["1"], "human_or_machine": 2},
            {"image": {"bytes": None, "path": None}, "query": "?", "label": ["1"], "human_or_machine": 0}]
    (tmp_path / "data").mkdir()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp_path / "data" / "test-00000-of-00001.parquet")
    pq.write_table(pa.Table.from_pylist(rows[:1], schema=schema), tmp_path / "data" / "train-00000-of-00001.parquet")
    data = source.load(tmp_path / "data", image_dir=tmp_path / "images")
    assert [(i.id, i.split, i.labels) for i in data.items.values()] == [
        ("test-0", "human", ["0.57"]), ("test-1", "augmented", ["Corn"])]
    reasons = dict(data.rejected)
    assert "not 0 (human) or 1 (machine)" in reasons["test-2"] and "no bytes" in reasons["test-3"]
    assert load_image(data.image_root, data.items["test-1"].image, "test-1").getpixel((0, 0)) == (0, 0, 255)


def test_lmms_lab_parquet(tmp_path):
    # lmms-lab/ChartQA: type ("human_test" / "augmented_test"), question, answer, image.
    schema = pa.schema([("type", pa.string()), ("question", pa.string()), ("answer", pa.string()),
                        ("image", IMAGE)])
    rows = [{"type": "human_test", "question": "How many?", "answer": "14",
             "image": {"bytes": _png("red"), "path": None}},
            {"type": "augmented_test", "question": "Which?", "answer": "Lamb",
             "image": {"bytes": _png("red"), "path": None}}]
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp_path / "test-00000-of-00001.parquet")
    data = source.load(tmp_path / "test-00000-of-00001.parquet", image_dir=tmp_path / "images")
    assert [i.split for i in data.items.values()] == ["human", "augmented"]
    assert data.items["test-0"].image == data.items["test-1"].image   # same bytes, stored once
    assert len(list((tmp_path / "images").rglob("*.png"))) == 1
