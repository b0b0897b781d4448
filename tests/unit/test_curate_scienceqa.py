import pytest

from scitune.contracts import Problem
from scitune.contracts import INPUT_FORMATS, OUTPUT_FORMATS
from scitune.curate.scienceqa import problem_instruction


def _problem(**kw):
    data = dict(pid="42", question="Which is a unit of mass?", choices=["kilogram", "meter", "second"], answer=0,
                hint="Units name quantities.", image="42/image.png", lecture="Mass is measured in kilograms.",
                solution="A kilogram measures mass.", split="train")
    data.update(kw)
    return Problem(**data)


def test_qcm_lepa_is_the_scitune_format():
    instruction = problem_instruction(_problem(), "QCM-LEPA")
    human, gpt = (t.value for t in instruction.conversations)
    assert human == ("<image>\nQuestion: Which is a unit of mass?\nContext: Units name quantities.\n"
                     "Options: (A) kilogram (B) meter (C) second")
    assert gpt == ("LECTURE: Mass is measured in kilograms.\nSOLUTION: A kilogram measures mass.\n###\nANSWER: A.")
    assert instruction.image == "42/image.png"


def test_text_only_problem_has_no_placeholder_and_empty_context_is_na():
    instruction = problem_instruction(_problem(image=None, hint=""), "QCM-A")
    assert instruction.image is None
    assert instruction.conversations[0].value.startswith("Question:")
    assert "Context: N/A" in instruction.conversations[0].value
    assert instruction.conversations[1].value == "Answer: The answer is A."


def test_more_than_five_choices_is_a_clear_error():
    with pytest.raises(ValueError, match="problem 42: 6 choices"):
        problem_instruction(_problem(choices=list("abcdef")), "QCM-A")


def test_unknown_format_is_rejected():
    with pytest.raises(ValueError, match="unknown prompt format 'QXM-A'"):
        problem_instruction(_problem(), "QXM-A")


@pytest.mark.parametrize(
    ("prompt_format", "prompt_tail", "target"),
    [
        ("QCML-AE", "Options: (A) kilogram (B) meter (C) second\nBECAUSE: Mass is measured in kilograms.",
         "Answer: The answer is A. BECAUSE: A kilogram measures mass."),
        ("QCLEM-A", "BECAUSE: Mass is measured in kilograms. A kilogram measures mass.\nOptions: (A) kilogram (B) meter (C) second",
         "Answer: The answer is A."),
        ("QCM-LEA", "Options: (A) kilogram (B) meter (C) second",
         "Answer: Mass is measured in kilograms. A kilogram measures mass. The answer is A."),
        ("QCM-AEL", "Options: (A) kilogram (B) meter (C) second",
         "Answer: The answer is A. BECAUSE: A kilogram measures mass. Mass is measured in kilograms."),
    ],
)
def test_formats_compose_from_parts(prompt_format, prompt_tail, target):
    human, gpt = (t.value for t in problem_instruction(_problem(image=None), prompt_format).conversations)
    assert human.endswith(prompt_tail)
    assert gpt == target


def test_every_paper_format_renders():
    rendered = {(i, o): problem_instruction(_problem(), f"{i}-{o}") for i in INPUT_FORMATS for o in OUTPUT_FORMATS}
    assert len(rendered) == 80
    assert rendered[("CQM", "A")].conversations[0].value.startswith("<image>\nContext: Units name quantities.\nQuestion:")
    assert len({r.conversations[1].value for r in rendered.values()}) == len(OUTPUT_FORMATS)


def test_lepa_omits_an_empty_lecture():
    gpt = problem_instruction(_problem(lecture=""), "QCM-LEPA").conversations[1].value
    assert gpt == "SOLUTION: A kilogram measures mass.\n###\nANSWER: A."
