"""AI2D: the lettered-option prompt and lmms-eval's exact match, the lenient letter rule, and the
readers on small files in the official layout (questions/*.json, images/, categories.json) and the
lmms-lab/ai2d parquet."""

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from scitune.evaluate import ai2d
from scitune.sources.benchmarks import ai2d as source
from scitune.sources.benchmarks.ai2d import AI2DItem


def _png(color) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20), color).save(buffer, format="PNG")
    return buffer.getvalue()


def _item(item_id="0.png-0", answer=1, **kw):
    return AI2DItem(id=item_id, image="0.png", question="What is A in the diagram?",
                    options=["ears", "nose", "mouth", "face"], answer=answer, **kw)


def test_prompt_letters_the_options():
    assert ai2d.prompt(_item()) == ("What is A in the diagram?\nA. ears\nB. nose\nC. mouth\nD. face\n"
                                    "Answer with the option's letter from the given choices directly.")
    assert ai2d.instruction(_item()).conversations[-1].value == "B"


@pytest.mark.parametrize("text, official, lenient", [
    ("B", True, True), ("b", True, True), ("(B)", True, True), ("B.", True, True), (" B\n", True, True),
    ("B. nose", False, True),                    # the exact match wants the letter alone
    ("The answer is B.", False, True),
    ("nose", False, True),                       # the option's text: lenient only
    ("C", False, False), ("", False, False), ("I cannot tell.", False, False),
])
def test_exact_match_and_lenient_letter(text, official, lenient):
    result = ai2d.score([_item()], {"0.png-0": text})
    assert result["accuracy"] == (100.0 if official else 0.0)
    assert result["accuracy_lenient"] == (100.0 if lenient else 0.0)


def test_an_answer_outside_the_options_is_refused():
    with pytest.raises(ValueError, match="answer index 4 is out of range for 4 options"):
        _item(answer=4)


def test_official_release_with_categories_and_test_ids(tmp_path):
    (tmp_path / "questions").mkdir()
    (tmp_path / "images").mkdir()
    for name in ("0.png", "1.png"):
        (tmp_path / "images" / name).write_bytes(_png("white"))
    (tmp_path / "questions" / "0.png.json").write_text(json.dumps({"imageName": "0.png", "questions": {
        "What is A in the diagram?": {"abcLabel": True, "answerTexts": ["ears", "nose", "mouth", "face"],
                                      "correctAnswer": 3, "questionId": "0.png-0"},
        "What is B in the diagram?": {"abcLabel": True, "answerTexts": ["face", "mouth", "nose", "ears"],
                                      "correctAnswer": 7, "questionId": "0.png-1"}}}))
    (tmp_path / "questions" / "1.png.json").write_text(json.dumps({"imageName": "1.png", "questions": {
        "Which stage comes after the egg?": {"abcLabel": False, "answerTexts": ["larva", "adult", "pupa", "egg"],
                                             "correctAnswer": 0, "questionId": "1.png-0"}}}))
    (tmp_path / "questions" / "10.png.json").write_text("{not json")
    (tmp_path / "categories.json").write_text(json.dumps({"0.png": "partsOfA", "1.png": "lifeCycles"}))
    data = source.load(tmp_path)
    assert list(data.items) == ["0.png-0", "1.png-0"] and data.image_root == tmp_path / "images"
    reasons = dict(data.rejected)
    assert "out of range" in reasons["0.png-1"] and "cannot read the question file" in reasons["10.png.json"]
    first = data.items["0.png-0"]
    assert (first.answer, first.category, first.abc_label) == (3, "partsOfA", True)
    result = ai2d.score(list(data.items.values()), {"0.png-0": "D", "1.png-0": "B"})
    assert result["breakdowns"]["category"] == {"partsOfA": {"accuracy": 100.0, "correct": 1, "total": 1},
                                                "lifeCycles": {"accuracy": 0.0, "correct": 0, "total": 1}}
    assert result["breakdowns"]["letters on the diagram"]["yes"]["correct"] == 1
    # The test split as a list of question ids (the Qwen-VL / lmms-eval test file is JSONL).
    (tmp_path / "test.jsonl").write_text('{"question_id": "1.png-0"}\n{"question_id": "9.png-0"}\n')
    test = source.load(tmp_path, ids=tmp_path / "test.jsonl")
    assert list(test.items) == ["1.png-0"]
    assert ("9.png-0", "listed but not in the benchmark files") in test.rejected


def test_lmms_lab_parquet(tmp_path):
    # lmms-lab/ai2d: question, options (list of string), answer (the index as a string), image.
    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    schema = pa.schema([("question", pa.string()), ("options", pa.list_(pa.string())), ("answer", pa.string()),
                        ("image", image)])
    rows = [{"question": "Which stage comes after the egg?", "options": ["larva", "adult", "pupa", "egg"],
             "answer": "0", "image": {"bytes": _png("red"), "path": None}},
            {"question": "Which?", "options": ["a", "b"], "answer": "B", "image": {"bytes": _png("red"), "path": None}}]
    (tmp_path / "data").mkdir()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp_path / "data" / "test-00000-of-00001.parquet")
    data = source.load(tmp_path / "data", image_dir=tmp_path / "images")
    assert list(data.items) == ["test-0"] and data.items["test-0"].answer == 0
    assert "'B' is not an option index" in dict(data.rejected)["test-1"]
    assert ai2d.score(list(data.items.values()), {"test-0": "A"})["breakdowns"] == {}
