import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from scitune.sources.scienceqa import load_problems, merge, parse_llava_prompt, read_split_ids

FIELDS = dict(question="Which is a mammal?", choices=["frog", "whale", "trout"], answer=1, hint="",
              image=None, task="closed choice", grade="grade4", subject="natural science", topic="biology",
              category="Classification", skill="Identify mammals", lecture="Mammals have hair.",
              solution="A whale is a mammal.")


def test_official_release_keys_by_pid_and_reports_bad_records(tmp_path):
    problems = {
        "1": {**FIELDS, "split": "test", "image": "image.png"},
        "2": {**FIELDS, "split": "train", "choices": []},        # no choices
        "3": {**FIELDS, "split": "test", "answer": 7},            # answer out of range
    }
    path = tmp_path / "problems.json"
    path.write_text(json.dumps(problems))
    result = load_problems(path, image_root=tmp_path / "images")
    assert list(result.problems) == ["1"]
    assert result.problems["1"].image == "test/1/image.png"
    reasons = {r.id: r.reason for r in result.rejected}
    assert "at least 2 choices" in reasons["2"] and "answer index 7" in reasons["3"]
    assert result.warnings == [("1", f"image test/1/image.png is missing under {tmp_path / 'images'}")]


def test_split_ids_and_unknown_split(tmp_path):
    path = tmp_path / "pid_splits.json"
    path.write_text(json.dumps({"test": [1, 2], "train": [3]}))
    assert read_split_ids(path, "test") == ["1", "2"]
    with pytest.raises(ValueError, match="no split 'minitest'"):
        read_split_ids(path, "minitest")


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, format="PNG")
    return buffer.getvalue()


def test_hugging_face_parquet_release(tmp_path):
    rows = [{**FIELDS, "image": {"bytes": _png(), "path": None}}, {**FIELDS, "image": None, "hint": "ctx"}]
    table = pa.Table.from_pylist(rows)
    pq.write_table(table, tmp_path / "test-00000-of-00001.parquet", row_group_size=1)
    result = load_problems(tmp_path)
    assert list(result.problems) == ["test-0", "test-1"]
    first, second = result.problems.values()
    assert first.image == "test/test-0/image.png" and first.split == "test" and first.subject == "natural science"
    assert second.image is None and second.hint == "ctx"


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("Which is a mammal?\nA. frog\nB. whale", ("Which is a mammal?", "", ["frog", "whale"], False)),
        ("<image>\nContext: Look at the map.\nWhich state is north?\nA. Ohio\nB. Texas\nC. Utah",
         ("Which state is north?", "Look at the map.", ["Ohio", "Texas", "Utah"], True)),
        ("Which has:\nA. This has:\nrain\nsoil\nB. This has:\nsnow",
         ("Which has:", "", ["This has:\nrain\nsoil", "This has:\nsnow"], False)),
    ],
)
def test_llava_prompt_parsing(prompt, expected):
    assert parse_llava_prompt(prompt) == expected


def test_llava_file_keeps_missing_metadata_missing(tmp_path):
    path = tmp_path / "llava_test_CQM-A.json"
    path.write_text(json.dumps([
        {"id": "5", "image": "5/image.png", "conversations": [
            {"from": "human", "value": "<image>\nWhich?\nA. x\nB. y"}, {"from": "gpt", "value": "B"}]},
        {"id": "6", "conversations": [{"from": "human", "value": "no choices here"}, {"from": "gpt", "value": "A"}]},
    ]))
    result = load_problems(path)
    problem = result.problems["5"]
    assert (problem.answer, problem.image, problem.split) == (1, "5/image.png", "test")
    assert problem.subject is None and problem.grade is None and problem.lecture == ""
    assert result.rejected[0].id == "6" and result.rejected[0].kind == "unparsable_llava_item"


def test_duplicate_pids_across_sources_are_reported(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"1": {**FIELDS, "split": "test"}}))
    merged = merge([load_problems(path), load_problems(path)])
    assert list(merged.problems) == ["1"]
    assert [(r.id, r.kind, r.reason) for r in merged.rejected] == [
        ("1", "duplicate_pid", "duplicate pid; the first occurrence is kept")]


@pytest.mark.shared_data
def test_real_llava_file_parses_completely(shared_data_dir):
    result = load_problems(shared_data_dir / "scienceqa" / "llava_test_CQM-A.json")
    assert len(result.problems) == 4241 and not result.rejected
    assert sum(p.image is not None for p in result.problems.values()) == 2017
