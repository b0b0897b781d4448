"""MathVista answer extraction without GPT-4: a documented rule set, and a prompt for a local model.

The official pipeline (github.com/lupantech/MathVista `evaluation/extract_answer.py`) asks GPT-4 to
pull the final answer out of a free-text response, after a few shortcuts. `extract_answer` keeps
those shortcuts and replaces GPT-4 by deterministic rules; `extraction_prompt` is what a local model
answers instead (the official layout, our own demonstrations). `mathvista.agreement` measures the
rules against a run's published GPT-4 extractions.
"""

from __future__ import annotations

import re

from scitune.sources.benchmarks.mathvista import MathVistaProblem

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

_NUMBER = r"-?\d{1,3}(?:,\d{3})+(?![\d])(?:\.\d+)?|-?\d+(?:\.\d+)?|-?\.\d+"
_INDICATOR = re.compile(r"answer(?:\s+is)?|therefore|thus|hence|so\b|in total|total of|result(?:\s+is)?|=|≈",
                        re.IGNORECASE)
_LETTER_ANSWER = re.compile(
    r"(?:answer|option|choice)\s*(?:is|would be|:)?\s*:?\s*(?:option\s*|choice\s*)?\*{0,2}\(?([A-Z])\)?(?![A-Za-z0-9])")
_QUICK = re.compile(r'The answer is "(.*)"\.')


def _numbers(text: str) -> list[tuple[int, str]]:
    return [(m.start(), m.group().replace(",", "")) for m in re.finditer(_NUMBER, text)]


def _boxed(text: str) -> str | None:
    found = re.findall(r"\\boxed\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}", text)
    return found[-1].strip() if found else None


def _choice_mentioned(text: str, choices: list[str]) -> int | None:
    """The option whose text the response names last (whole words for short or numeric options)."""
    best, position = None, -1
    lowered = text.lower()
    for index, choice in enumerate(choices):
        needle = choice.strip().lower()
        if not needle:
            continue
        pattern = re.escape(needle)
        if len(needle) <= 3 or re.fullmatch(r"[\d.,%°\s-]+", needle):
            pattern = rf"(?<![\w.]){pattern}(?![\w]|\.\d)"
        for match in re.finditer(pattern, lowered):
            if match.start() > position or (match.start() == position and len(needle) > len(choices[best])):
                best, position = index, match.start()
    return best


def _bold_number(text: str) -> str | None:
    """The number in the first **bold** span: chat models bold the answer they state."""
    for span in re.findall(r"\*\*([^*]+)\*\*", text):
        found = _numbers(span)
        if found:
            return found[0][1]
    return None


def _last_number(text: str) -> str | None:
    boxed = _boxed(text)
    if boxed is not None:
        inside = _numbers(boxed)
        if inside:
            return inside[0][1]
    bold = _bold_number(text)
    if bold is not None:
        return bold
    numbers = _numbers(text)
    if not numbers:
        return None
    indicators = [m.end() for m in _INDICATOR.finditer(text)]
    if indicators:
        after = [n for position, n in numbers if position >= indicators[-1]]
        if after:
            return after[0]
    return numbers[-1][1]


def extract_answer(response: str, problem: MathVistaProblem) -> str:
    """A deterministic stand-in for the official GPT-4 extraction; "" when nothing is found.

    The official shortcuts come first (extract_answer.py): an empty response; a response that is
    exactly one of the choices; a response that is itself an integer / a float for such answers;
    `The answer is "X".`. Then, for multiple choice: a letter stated as the answer ("answer is (C)",
    "Answer: C", "option C"), else the last option letter in parentheses, else a bare letter, else the
    option whose text the response names last, else the number found as for numbers (the official
    scorer then takes the nearest option). For numbers: the content of the last \\boxed{}, else the
    number in the first **bold** span, else the first number after the last "answer is / therefore /
    so / = …", else the last number (thousands separators dropped). For lists: the numbers of the
    last [...] in the response, written as Python writes a list.
    """
    text = (response or "").strip()
    if not text:
        return ""
    choices = problem.choices or []
    if problem.question_type == "multi_choice" and text in choices:
        return text
    if problem.answer_type == "integer":
        try:
            return str(int(text))
        except ValueError:
            pass
    if problem.answer_type == "float":
        try:
            return str(float(text))
        except ValueError:
            pass
    quick = _QUICK.search(text)
    if quick:
        return quick.group(1)
    if problem.question_type == "multi_choice":
        options = LETTERS[: len(choices)]
        stated = [m.group(1) for m in _LETTER_ANSWER.finditer(text) if m.group(1) in options]
        if stated:
            return stated[-1]
        bracketed = [letter for letter in re.findall(r"\(([A-Z])\)", text) if letter in options]
        if bracketed:
            return bracketed[-1]
        bare = re.fullmatch(r"\(?([A-Z])[).:]?", text)
        if bare and bare.group(1) in options:
            return bare.group(1)
        named = _choice_mentioned(text, choices)
        if named is not None:
            return options[named]
        return _last_number(text) or ""
    if problem.answer_type == "list":
        lists = re.findall(r"\[[^\[\]]*\]", text)
        if not lists:
            return ""
        # Python's own list text ("[1, 2]"), which the answers are written in.
        return "[" + ", ".join(n for _, n in _numbers(lists[-1])) + "]"
    if problem.answer_type in ("integer", "float"):
        return _last_number(text) or ""
    return text.splitlines()[-1].strip()


_EXTRACTION_DEMO = """Read the question and a model's response, then give only the final answer the response states:
the option letter for a multiple-choice question, otherwise the number or the Python list.

Question: How many apples are on the table?
Model response: I count three red apples and two green ones, five apples in all.
Extracted answer: 5

Question: Which shape has the largest area?
Choices:
(A) the circle
(B) the square
(C) the triangle
Model response: The square's side is longer than the circle's diameter, so the square is the largest.
Extracted answer: B

Question: What is the slope of the line? Give two decimal places.
Model response: Rise over run is 3/8, so the slope is 0.375, which is 0.38.
Extracted answer: 0.38"""


def extraction_prompt(problem: MathVistaProblem, response: str) -> str:
    """The prompt a local model answers to extract the answer: the official layout (demonstrations,
    the query, the response, "Extracted answer:") with our own short demonstrations."""
    return f"{_EXTRACTION_DEMO}\n\n{problem.prompt}\nModel response: {response.strip()}\nExtracted answer:"


def clean_model_extraction(text: str) -> str:
    """The first line of what the extractor model said, without a repeated 'Extracted answer:'."""
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return re.sub(r"^(?:extracted answer|answer)\s*:\s*", "", line, flags=re.IGNORECASE).strip()
