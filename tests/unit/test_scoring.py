import pytest

from scitune.contracts import Prediction, Problem
from scitune.evaluate.figures import score_figure_types
from scitune.evaluate.scienceqa import Answers, extract_choice, score

CHOICES = ["kelvin", "pascal", "joule"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("LECTURE: x\nSOLUTION: y\n###\nANSWER: B.", 1),
        ("The answer is C.", 2),
        ("B", 1),
        ("(A)", 0),
        ("C.", 2),
        ("Pascal.", 1),
        ("ANSWER: D.", None),  # no option D
        ("I think it is kelvin or pascal", None),
        ("", None),
    ],
)
def test_answer_extraction_is_explicit(text, expected):
    assert extract_choice(text, CHOICES) == expected


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
    result = score(problems, Answers(text={"1": "A", "2": "The answer is A.", "3": "hmm"}))
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
