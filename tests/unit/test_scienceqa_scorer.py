import json

import pytest

from scitune.contracts import Problem
from scitune.evaluate.scienceqa import Answers, load_answers, markdown_table, score
from scitune.sources.scienceqa import load_problems, merge


def _p(pid, answer=0, **kw):
    return Problem(pid=pid, question="q", choices=["a", "b", "c"], answer=answer, split="test",
                   subject="natural science", grade="grade2", **kw)


def test_failure_policies_are_explicit_and_counted():
    problems = [_p("1"), _p("2"), _p("3")]
    answers = Answers(text={"1": "A", "2": "no idea"})
    wrong = score(problems, answers)
    assert wrong["accuracy"]["Avg"] == pytest.approx(33.33) and wrong["parse_failures"] == 1 and wrong["missing"] == 1
    excluded = score(problems, answers, policy="exclude")
    assert excluded["accuracy"]["Avg"] == 100.0 and excluded["counts"]["Avg"] == 1
    first = score(problems, answers, policy="random", seed=3)
    assert first == score(problems, answers, policy="random", seed=3), "random policy must be seeded"
    assert first["parse_failures"] == 1 and first["missing"] == 1


def test_bad_predictions_are_counted_not_fatal(tmp_path):
    path = tmp_path / "pred.jsonl"
    path.write_text('{"id": "1", "text": "A"}\n{broken\n{"id": "1", "text": "B"}\n{"id": "99", "text": "A"}\n')
    answers = load_answers(path)
    result = score([_p("1"), _p("2")], answers)
    assert result["malformed_lines"] == 1 and result["duplicate_predictions"] == 1
    assert result["unknown_predictions"] == 1 and result["accuracy"]["Avg"] == 50.0
    assert any("pred.jsonl:2" in issue for issue in result["issues"])


def test_official_results_with_out_of_range_index(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"results": {"1": 0, "2": 5}}))
    result = score([_p("1"), _p("2")], load_answers(path))
    assert result["invalid_predictions"] == 1 and result["accuracy"]["Avg"] == 50.0
    assert any("2: choice index 5 is out of range" in issue for issue in result["issues"])


def test_llava_answer_files_use_question_id(tmp_path):
    path = tmp_path / "answers.jsonl"
    path.write_text('{"question_id": "1", "prompt": "", "text": "The answer is A.", "answer_id": "x"}\n')
    assert score([_p("1")], load_answers(path))["accuracy"]["Avg"] == 100.0


def test_topic_skill_and_markdown_reference_rows():
    result = score([_p("1", topic="physics", skill="s"), _p("2", topic="physics")], Answers(text={"1": "A"}))
    assert result["by_topic"] == {"physics": {"accuracy": 50.0, "count": 2}}
    assert result["by_skill"] == {"s": {"accuracy": 100.0, "count": 1}}
    table = markdown_table(result, "mine")
    assert "| **mine** |" in table and "| LLaMA-SciTune-13B | 89.30" in table and "| Human |" in table


@pytest.mark.shared_data
def test_gpt3_run_reproduces_the_published_scores(shared_data_dir):
    data = shared_data_dir / "scienceqa"
    result = score(load_problems(data / "llava_test_CQM-A.json").problems.values(),
                   load_answers(data / "gpt3_test_QCM-ALE_predictions.json"))
    accuracy = result["accuracy"]
    assert (accuracy["Avg"], accuracy["TXT"], accuracy["IMG"], accuracy["NO"]) == (75.17, 74.68, 67.43, 79.93)
    assert accuracy["NAT"] is None and accuracy["G1-6"] is None, "LLaVA's file has no subject or grade"
    assert result["counts"]["Avg"] == 4241 and result["parse_failures"] == result["missing"] == 0


@pytest.mark.shared_data
def test_every_category_on_the_361_known_test_problems(shared_data_dir):
    data = shared_data_dir / "scienceqa"
    problems = merge([load_problems(data / "problems_sample.json"), load_problems(data / "problems_partial.json")])
    test = [p for p in problems.problems.values() if p.split == "test"]
    result = score(test, load_answers(data / "gpt3_test_QCM-ALE_predictions.json"))
    # Counted by hand from the two files (NAT+SOC+LAN = G1-6+G7-12 = 361; TXT and IMG overlap in 100).
    assert result["counts"] == {"NAT": 186, "SOC": 74, "LAN": 101, "TXT": 170, "IMG": 167, "NO": 124,
                                "G1-6": 234, "G7-12": 127, "Avg": 361}
    assert result["correct"] == {"NAT": 142, "SOC": 52, "LAN": 75, "TXT": 130, "IMG": 110, "NO": 95,
                                 "G1-6": 178, "G7-12": 91, "Avg": 269}
    assert result["accuracy"]["Avg"] == 74.52
    assert result["unknown_predictions"] == 4241 - 361
