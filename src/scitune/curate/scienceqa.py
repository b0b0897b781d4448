"""ScienceQA problems → instructions, in the ScienceQA paper's composable prompt formats.

A format is INPUT-OUTPUT. Input letters: Q question, C context (the hint, 'N/A' when empty), M the
options `(A) … (B) …`, L lecture and E explanation (solution), which the paper's upper-bound formats
give as one `BECAUSE:` line. Output letters: A (`The answer is X.`), L, E, in order, after
`Answer:`; parts after the answer follow `BECAUSE:`. LEPA is the SciTune/LLaVA form
`LECTURE: …\nSOLUTION: …\n###\nANSWER: X.`. One table of parts, not a branch per format.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from scitune.contracts import IMAGE_PLACEHOLDER, LETTERS, Instruction, Problem, parse_format

def options_text(problem: Problem) -> str:
    if len(problem.choices) > len(LETTERS):
        raise ValueError(
            f"problem {problem.pid}: {len(problem.choices)} choices, at most {len(LETTERS)} can be lettered A-E"
        )
    return " ".join(f"({LETTERS[i]}) {choice}" for i, choice in enumerate(problem.choices))


def answer_letter(problem: Problem) -> str:
    return LETTERS[problem.answer]


def _part(problem: Problem, letter: str) -> str:
    """The text of one letter: lecture and explanation as they are, the answer as a sentence."""
    if letter == "L":
        return problem.lecture.strip()
    if letter == "E":
        return problem.solution.strip()
    return f"The answer is {answer_letter(problem)}."


def render_prompt(problem: Problem, inputs: str) -> str:
    lines, because_done = [], False
    for letter in inputs:
        if letter == "Q":
            lines.append(f"Question: {problem.question}")
        elif letter == "C":
            lines.append(f"Context: {problem.hint.strip() or 'N/A'}")
        elif letter == "M":
            lines.append(f"Options: {options_text(problem)}")
        elif not because_done:  # L and/or E: one BECAUSE line in the order the format names them
            because_done = True
            given = [_part(problem, part) for part in inputs if part in "LE"]
            lines.append("BECAUSE: " + " ".join(text for text in given if text))
    return "\n".join(lines)


def render_target(problem: Problem, outputs: str) -> str:
    if outputs == "LEPA":
        text = f"LECTURE: {problem.lecture.strip()}\n" if problem.lecture.strip() else ""
        text += f"SOLUTION: {problem.solution.strip()}\n" if problem.solution.strip() else ""
        return text + f"###\nANSWER: {answer_letter(problem)}."
    before, _, after = outputs.partition("A")
    parts = [_part(problem, letter) for letter in before] + [_part(problem, "A")]
    reasons = [_part(problem, letter) for letter in after]
    text = " ".join(part for part in parts if part)
    if any(reasons):
        text += " BECAUSE: " + " ".join(reason for reason in reasons if reason)
    return f"Answer: {text}"


def problem_instruction(problem: Problem, prompt_format: str) -> Instruction:
    """One instruction; image problems carry the `<image>` placeholder and the image path."""
    inputs, outputs = parse_format(prompt_format)
    prompt = render_prompt(problem, inputs)
    if problem.image:
        prompt = f"{IMAGE_PLACEHOLDER}\n{prompt}"
    used = set(inputs) | set(outputs.replace("LEPA", "LEA"))
    fields = ["question", "choices", "answer"] + ["hint"] * ("C" in used) + ["lecture"] * ("L" in used) + (
        ["solution"] * ("E" in used))
    return Instruction(
        id=problem.pid,
        image=problem.image,
        conversations=[{"from": "human", "value": prompt}, {"from": "gpt", "value": render_target(problem, outputs)}],
        source={"dataset": "scienceqa-format", "pid": problem.pid, "format": prompt_format, "fields": fields},
    )


def problem_instructions(problems: Iterable[Problem], prompt_format: str) -> Iterator[Instruction]:
    parse_format(prompt_format)  # fail before the first record, not after the thousandth
    for problem in problems:
        yield problem_instruction(problem, prompt_format)
