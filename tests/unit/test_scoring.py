import pytest

from scitune.contracts import Prediction, Problem
from scitune.evaluate.figures import score_figure_types
from scitune.evaluate.answer_rules import read_answer, rule_for_format
from scitune.evaluate.scienceqa import Answers, extract_choice, markdown_table, score

CHOICES = ["kelvin", "pascal", "joule"]
LEPA = "LECTURE: Pressure is force per area.\nSOLUTION: Pascal measures pressure.\n###\nANSWER: B."

# One row per text: what each rule reads (an option index, or the failure reason).
RULE_TABLE = [
    # text                                        official          llava             llava-lepa        scitune
    ("The answer is C.",                          2,                2,                2,                2),
    ("Answer: The answer is B. BECAUSE: it is.",  1,                1,                1,                1),
    ("The answer is B",                           "no answer",      "no answer",      "no answer",      1),  # official needs a character after the letter
    ("The answer is A lot",                       0,                0,                0,                "no answer"),
    ("The answer is B.\nThe answer is B.",        "several answers", "several answers", "several answers", 1),
    ("The answer is A. No, the answer is B.",     0,                0,                0,                "several answers"),  # official is case-sensitive
    ("The answer is D.",                          "not an option",  "not an option",  "not an option",  "not an option"),
    ("B",                                         "no answer",      1,                "no answer",      1),
    ("B. pascal",                                 "no answer",      1,                "no answer",      "no answer"),
    ("(A)",                                       "no answer",      "no answer",      "no answer",      0),
    ("Pascal.",                                   "no answer",      "no answer",      "no answer",      1),
    (LEPA,                                        "no answer",      "no answer",      1,                1),
    (LEPA.replace("ANSWER: B.", "ANSWER: B"),     "no answer",      "no answer",      "no answer",      1),
    ("SOLUTION: The answer is A.\n###\nANSWER: B.", 0,              0,                "several answers", 1),
    ("ANSWER: D.",                                "no answer",      "no answer",      "not an option",  "not an option"),
    ("I think it is kelvin or pascal",            "no answer",      "no answer",      "no answer",      "no answer"),
    ("",                                          "no answer",      "no answer",      "no answer",      "no answer"),
]


@pytest.mark.parametrize("row", RULE_TABLE, ids=[repr(row[0][:30]) for row in RULE_TABLE])
def test_each_rule_reads_answers_as_its_evaluator_does(row):
    text, *expected = row
    for rule, want in zip(("official", "llava", "llava-lepa", "scitune"), expected):
        reading = read_answer(text, CHOICES, rule)
        got = reading.index if reading.index is not None else reading.failure
        assert got == want, f"rule {rule} on {text!r}"
        assert extract_choice(text, CHOICES, rule) == (want if isinstance(want, int) else None)


def test_official_rule_is_the_default_and_unknown_names_are_refused():
    assert extract_choice("B", CHOICES) is None and extract_choice("B", CHOICES, "scitune") == 1
    with pytest.raises(ValueError, match="unknown answer rule 'loose'"):
        extract_choice("B", CHOICES, "loose")
    with pytest.raises(ValueError, match="unknown failure policy 'skip'"):
        score([_p("1", 0)], Answers(text={"1": "A"}), policy="skip")
    assert rule_for_format("QCM-LEPA") == "llava-lepa" and rule_for_format("QCM-ALE") == "official"


def test_every_score_records_its_rule_and_why_answers_failed():
    problems = [_p("1", 1), _p("2", 1), _p("3", 0), _p("4", 2)]
    answers = Answers(text={"1": LEPA, "2": "The answer is B.", "3": "The answer is A. Or A.\nThe answer is A.",
                            "4": "The answer is E."})
    official = score(problems, answers)
    assert official["rule"] == "official" and official["accuracy"]["Avg"] == 25.0
    assert official["parse_failure_pids"] == {"no answer": ["1"], "not an option": ["4"], "several answers": ["3"]}
    assert official["parse_failures"] == 3 and official["read_by_rule"] == 4 and official["given_as_index"] == 0
    lepa = score(problems, answers, rule="llava-lepa")
    assert lepa["rule"] == "llava-lepa" and lepa["accuracy"]["Avg"] == 50.0 and lepa["parse_failures"] == 2
    table = markdown_table(official)
    assert "answer rule `official`" in table and "several answers 1" in table and "failures scored `wrong`" in table
    assert "answer rule `llava-lepa`" in markdown_table(lepa)


def _p(pid, answer, **kw):
    base = dict(pid=pid, question="q", choices=CHOICES, answer=answer, split="test", subject="natural science",
                grade="grade3")
    base.update(kw)
    return Problem(**base)


def _pred(pid, text):
    return Prediction(id=pid, prompt="", text=text, model="m")


def test_categories_parse_failures_and_missing():
    problems = [
        _p("1", 0, image="a.png"),                          # IMG, correct
        _p("2", 1, hint="ctx", subject="social science"),    # TXT, wrong
        _p("3", 2, grade="grade9"),                         # NO, unparseable
        _p("4", 0),                                         # NO, missing prediction
    ]
    result = score(problems, Answers(text={"1": "The answer is A.", "2": "The answer is A.", "3": "hmm"}))
    acc = result["accuracy"]
    assert acc["Avg"] == 25.0 and acc["IMG"] == 100.0 and acc["TXT"] == 0.0 and acc["NO"] == 0.0
    assert acc["NAT"] == pytest.approx(33.33) and acc["SOC"] == 0.0
    assert acc["LAN"] is None, "a category with no question is n/a, not 0"
    assert result["counts"]["G1-6"] == 3 and result["counts"]["G7-12"] == 1
    assert result["parse_failures"] == 1 and result["missing"] == 1


def test_figure_type_accuracy_and_confusion():
    expected = {"a": "bar chart", "b": "table", "c": "table"}
    preds = [_pred("a", "Bar chart."), _pred("b", "bar chart"), _pred("c", "a table, I think")]
    result = score_figure_types(expected, preds, ["bar chart", "table", "equation", "graph plot"])
    assert result["accuracy"] == pytest.approx(33.33)
    assert result["chance"] == 25.0
    assert result["confusion"]["table"] == {"bar chart": 1, "(other)": 1}
