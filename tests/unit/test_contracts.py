import json

import pytest

from scitune.contracts import Instruction, Problem, read_jsonl, write_jsonl


def _instruction(**kw):
    data = {"id": "x", "image": "a.png", "source": {},
            "conversations": [{"from": "human", "value": "<image>\nq"}, {"from": "gpt", "value": "a"}]}
    data.update(kw)
    return Instruction.model_validate(data)


def test_instruction_roundtrip_keeps_llava_field_names(tmp_path):
    path = tmp_path / "i.jsonl"
    write_jsonl(path, [_instruction()])
    raw = json.loads(path.read_text())
    assert raw["conversations"][0] == {"from": "human", "value": "<image>\nq"}
    assert list(read_jsonl(path, Instruction)) == [_instruction()]


def test_image_placeholder_must_match_image():
    with pytest.raises(ValueError, match="placeholders"):
        _instruction(image=None)
    with pytest.raises(ValueError, match="placeholders"):
        _instruction(conversations=[{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}])


def test_problem_answer_out_of_range_names_pid():
    with pytest.raises(ValueError, match="problem 7: answer index 3"):
        Problem(pid="7", question="q", choices=["a", "b"], answer=3, split="test")


def test_bad_jsonl_line_names_file_and_line(tmp_path):
    path = tmp_path / "p.jsonl"
    good = Problem(pid="1", question="q", choices=["a", "b"], answer=0, split="train")
    path.write_text(good.model_dump_json() + "\n{not json\n")
    with pytest.raises(ValueError, match=r"p\.jsonl:2"):
        list(read_jsonl(path, Problem))


@pytest.mark.shared_data
def test_real_scienceqa_problems_fit_the_contract(shared_data_dir):
    problems = json.loads((shared_data_dir / "scienceqa" / "problems_sample.json").read_text())
    parsed = [Problem(pid=pid, **fields) for pid, fields in problems.items()]
    assert len(parsed) == 150
    assert {p.split for p in parsed} == {"train", "val", "test"}
