"""ScienceQA problems → instructions, in the ScienceQA paper's composable prompt formats.

A format is INPUT-OUTPUT: input letters from Q (question), C (context/hint), M (multiple options),
L (lecture), E (explanation/solution); output letters from A (answer), L, E, or the SciTune/LLaVA
'LEPA' form `LECTURE: …\\nSOLUTION: …\\n###\\nANSWER: X.`. One table of parts, not a branch per format.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from scitune.contracts import IMAGE_PLACEHOLDER, Instruction, Problem

LETTERS = "ABCDE"


def options_text(problem: Problem) -> str:
    if len(problem.choices) > len(LETTERS):
        raise ValueError(
            f"problem {problem.pid}: {len(problem.choices)} choices, at most {len(LETTERS)} can be lettered A-E"
        )
    return " ".join(f"({LETTERS[i]}) {choice}" for i, choice in enumerate(problem.choices))


def answer_letter(problem: Problem) -> str:
    return LETTERS[problem.answer]


INPUT_PARTS: dict[str, Callable[[Problem], str]] = {
    "Q": lambda p: f"Question: {p.question}",
    "C": lambda p: f"Context: {p.hint.strip() or 'N/A'}",
    "M": lambda p: f"Options: {options_text(p)}",
    "L": lambda p: f"Lecture: {p.lecture.strip()}",
    "E": lambda p: f"Solution: {p.solution.strip()}",
}

OUTPUT_PARTS: dict[str, Callable[[Problem], str]] = {
    "A": lambda p: f"The answer is {answer_letter(p)}.",
    "L": lambda p: f"BECAUSE: {p.lecture.strip()}",
    "E": lambda p: p.solution.strip(),
}


def parse_format(prompt_format: str) -> tuple[str, str]:
    """'QCM-LEPA' → ('QCM', 'LEPA'), validated."""
    inputs, sep, outputs = prompt_format.partition("-")
    if not sep or not inputs or set(inputs) - set(INPUT_PARTS) or (
        outputs != "LEPA" and (not outputs or set(outputs) - set(OUTPUT_PARTS))
    ):
        raise ValueError(
            f"unknown prompt format '{prompt_format}': expected INPUT-OUTPUT with input letters from "
            f"{''.join(INPUT_PARTS)} and output letters from {''.join(OUTPUT_PARTS)} or LEPA"
        )
    return inputs, outputs


def render_target(problem: Problem, outputs: str) -> str:
    if outputs == "LEPA":
        return (
            f"LECTURE: {problem.lecture.strip()}\nSOLUTION: {problem.solution.strip()}\n###\n"
            f"ANSWER: {answer_letter(problem)}."
        )
    return " ".join(OUTPUT_PARTS[part](problem) for part in outputs)


def problem_instruction(problem: Problem, prompt_format: str) -> Instruction:
    """One instruction; image problems carry the `<image>` placeholder and the image path."""
    inputs, outputs = parse_format(prompt_format)
    prompt = "\n".join(INPUT_PARTS[part](problem) for part in inputs)
    if problem.image:
        prompt = f"{IMAGE_PLACEHOLDER}\n{prompt}"
    fields = ["question", "hint", "choices", "answer"] + (["lecture", "solution"] if outputs == "LEPA" else [])
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
