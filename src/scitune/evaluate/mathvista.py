"""MathVista scoring as the official evaluation does it, and three ways to get the extracted answer.

Scoring follows github.com/lupantech/MathVista `evaluation/calculate_score.py` (read, not copied):
- multiple choice: the extraction is stripped; a letter in parentheses "(b)" becomes "B"; a letter
  among the options becomes that option's text; anything else becomes the option nearest by
  Levenshtein distance (the first on a tie) — so every multiple-choice answer names some option;
- integer: `str(int(float(x)))`; float: `str(round(float(x), precision))`; list: `str(x)`; what does
  not convert is None (wrong);
- correct when the normalised text equals the answer string exactly;
- the average is `str(round(100 * correct / total, 2))` ("34.8"), every breakdown (question type,
  answer type, language, source, category, task, context, grade, skills) is
  `"{:.2f}".format(100 * correct / total)` ("48.70"), values sorted by accuracy, highest first.

The official pipeline extracts the answer from the free-text response with GPT-4
(`evaluation/extract_answer.py`). Here the extraction comes from one of:
- `published`: the `extraction` field of an official output file (reproduces published scores);
- `rules`: `extract_answer` below, deterministic and documented;
- `model:NAME`: a local model answering `extraction_prompt` through our own generation path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

from scitune.contracts import Instruction
from scitune.evaluate import suite
from scitune.sources.benchmarks.common import BenchmarkSet
from scitune.sources.benchmarks.mathvista import CATEGORY_KEYS, MathVistaProblem

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

PUBLISHED = {
    # MathVista testmini averages, reproduced from the authors' own output files by the tests.
    "Frequent guess": 26.3,
    "Multimodal Bard": 34.8,
}


def levenshtein(a: str, b: str) -> int:
    """Character edit distance (insert, delete, substitute: 1 each), as python-Levenshtein's `distance`."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def normalize(extraction, problem: MathVistaProblem) -> str | None:
    """The official normalisation of an extracted answer to the problem's answer type."""
    if problem.question_type == "multi_choice":
        text = extraction.strip() if isinstance(extraction, str) else str(extraction)
        letter = re.findall(r"\(([a-zA-Z])\)", text)
        if letter:
            text = letter[0].upper()
        choices = problem.choices or []
        options = LETTERS[: len(choices)]
        if len(text) == 1 and text in options:
            return choices[options.index(text)]
        distances = [levenshtein(text, choice) for choice in choices]
        return choices[distances.index(min(distances))]
    try:
        if problem.answer_type == "integer":
            return str(int(float(extraction)))
        if problem.answer_type == "float":
            return str(round(float(extraction), int(problem.precision)))
        if problem.answer_type == "list":
            return str(extraction)
    except (TypeError, ValueError, OverflowError):
        return None
    return extraction


def is_correct(extraction, problem: MathVistaProblem) -> tuple[str | None, bool]:
    prediction = normalize(extraction, problem)
    return prediction, prediction is not None and prediction == problem.answer


# ---------------------------------------------------------------- rule-based extraction

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


# ---------------------------------------------------------------- model extraction (a local LM)

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


# ---------------------------------------------------------------- scoring

def official_scores(problems: list[MathVistaProblem], correct: dict[str, bool]) -> dict:
    """The scores JSON in calculate_score.py's exact format, over the problems in CORRECT."""
    scored = [p for p in problems if p.id in correct]
    total = len(scored)
    hits = sum(correct[p.id] for p in scored)
    scores: dict = {"average": {"accuracy": str(round(hits / total * 100, 2)) if total else "0.0",
                                "correct": hits, "total": total}}
    for key in CATEGORY_KEYS:
        tally: dict[str, list[int]] = {}
        for problem in scored:  # values in order of first appearance, as pandas' unique() gives them
            for value in problem.category(key):
                counts = tally.setdefault(value, [0, 0])
                counts[0] += correct[problem.id]
                counts[1] += 1
        rows = {value: {"accuracy": f"{c / t * 100:.2f}", "correct": c, "total": t}
                for value, (c, t) in tally.items()}
        scores[key] = dict(sorted(rows.items(), key=lambda item: float(item[1]["accuracy"]), reverse=True))
    return scores


def score(problems: Iterable[MathVistaProblem], extractions: dict[str, str], extractor: str,
          responses: dict[str, str] | None = None, failed: Iterable[str] = ()) -> dict:
    """Accuracy overall and per official breakdown from EXTRACTIONS {pid: extracted answer}.

    A problem without an extraction (no prediction, or a failed item) counts as wrong, as an empty
    extraction does officially. Problems without an answer (the test split) are not scored.
    """
    problems = [p for p in problems if p.answer is not None]
    failed = set(failed)
    correct, predictions, missing = {}, {}, 0
    for problem in problems:
        if problem.id not in extractions:
            missing += 1
        predictions[problem.id], correct[problem.id] = is_correct(extractions.get(problem.id, ""), problem)
    official = official_scores(problems, correct)
    known = {p.id for p in problems}
    unknown = sorted(set(extractions) - known)
    issues = [f"{len(unknown)} extractions name pids that are not among the scored problems "
              f"(first: {', '.join(unknown[:5])})"] if unknown else []
    return {
        "benchmark": "mathvista",
        "metric": "accuracy",
        "extractor": extractor,
        "accuracy": round(100 * official["average"]["correct"] / len(problems), 2) if problems else None,
        "correct": official["average"]["correct"],
        "total": len(problems),
        "breakdowns": {key: {value: {"accuracy": float(row["accuracy"]), "correct": row["correct"],
                                     "total": row["total"]} for value, row in official[key].items()}
                       for key in CATEGORY_KEYS},
        "official": official,
        "missing": missing,
        "failed": len(failed & known),
        "empty_extractions": sum(1 for p in problems if not str(extractions.get(p.id, "")).strip()),
        "issues": issues,
        "references": PUBLISHED,
        "outcomes": {pid: int(hit) for pid, hit in correct.items()},
        "predictions": predictions,
        "extractions": {p.id: extractions.get(p.id, "") for p in problems},
    }


def read_official_output(path: Path) -> dict[str, dict]:
    """An official output file ({pid: {..., response, extraction, ...}}) as {pid: record}."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ValueError(f"{path}: not a MathVista output file ({{pid: {{response, extraction, …}}}})")
    return {str(pid): record for pid, record in data.items()}


def problems_from_output(records: dict[str, dict], reference: dict[str, MathVistaProblem]
                         ) -> tuple[list[MathVistaProblem], list[str]]:
    """The problems as an official output file states them, in its order.

    calculate_score.py takes choices, types, precision and the metadata of the breakdowns from the
    output file itself and the answer from it too when present (else from testmini.json); doing the
    same is what reproduces a run's published scores when its metadata predates the current release
    (the Bard run carries grade 'daily life', since renamed 'not applicable', and older skills).
    Returns the problems and notes on where the file departs from the reference problems.
    """
    problems, notes, differing = [], [], 0
    for pid, record in records.items():
        base = reference.get(pid)
        if base is None:
            notes.append(f"{pid}: not in the reference problems; scored from the output file alone")
        fields = {k: record[k] for k in MathVistaProblem.model_fields if k in record and k not in ("id", "image")}
        if "answer" not in fields and base is not None:
            fields["answer"] = base.answer
        merged = {**(base.model_dump(exclude={"id"}) if base else {}), **fields}
        problem = MathVistaProblem(id=pid, **merged)
        differing += base is not None and problem.metadata != base.metadata
        problems.append(problem)
    if differing:
        notes.insert(0, f"the metadata of {differing} problems differs from the reference problems (an earlier "
                        "release); breakdowns use the output file's, as calculate_score.py does")
    return problems, notes


def agreement(problems: dict[str, MathVistaProblem], records: dict[str, dict]) -> dict:
    """How often the rule-based extractor agrees with a run's published (GPT-4) extraction: the
    same text, and the same normalised answer (what scoring sees)."""
    same_text = same_answer = 0
    ours_correct = theirs_correct = 0
    for pid, record in records.items():
        problem = problems[pid]
        ours = extract_answer(record.get("response", ""), problem)
        theirs = record.get("extraction", "")
        same_text += ours.strip() == str(theirs).strip()
        mine, hit = is_correct(ours, problem)
        published, published_hit = is_correct(theirs, problem)
        same_answer += mine == published
        ours_correct += hit
        theirs_correct += published_hit
    n = len(records)
    def pct(count: int) -> float:
        return round(100 * count / n, 2)

    return {"items": n, "same_extraction": pct(same_text), "same_answer": pct(same_answer),
            "accuracy_rules": pct(ours_correct), "accuracy_published": pct(theirs_correct)}


# ---------------------------------------------------------------- running a model

def instruction(problem: MathVistaProblem) -> Instruction:
    return Instruction(
        id=problem.id, image=problem.image, conversations=[suite.human_turn(problem.prompt, problem.image),
                                                           {"from": "gpt", "value": problem.answer or ""}],
        source={"dataset": "mathvista", "record": problem.id, "split": problem.metadata.get("split"),
                "fields": ["question", "unit", "choices", "precision", "answer_type", "answer"]})


def score_responses(problems: list[MathVistaProblem], texts: dict[str, str], failed: set[str] = frozenset(),
                    extracted: dict[str, str] | None = None, extractor_name: str = "model") -> dict:
    """Score generated responses: answers extracted by the rules, or by a local model when EXTRACTED
    holds its replies."""
    by_id = {p.id: p for p in problems}
    if extracted is None:
        extractions = {pid: extract_answer(text, by_id[pid]) for pid, text in texts.items() if pid in by_id}
        extractor = "rules"
    else:
        extractions = {pid: clean_model_extraction(extracted.get(pid, "")) for pid in texts if pid in by_id}
        extractor = f"model:{extractor_name}"
    result = score(problems, extractions, extractor, failed=failed)
    result["missing"] = sum(1 for p in problems if p.answer is not None and p.id not in texts)
    unknown = sorted(set(texts) - set(by_id))
    if unknown:
        result["issues"].append(f"{len(unknown)} predictions name pids that are not among the problems "
                                f"(first: {', '.join(unknown[:5])})")
    return result


def benchmark(data: BenchmarkSet[MathVistaProblem], extractor_name: str = "model") -> suite.Benchmark:
    problems = list(data.items.values())
    split = next((p.metadata.get("split") for p in problems), "testmini") or "testmini"
    return suite.Benchmark(
        name="mathvista", title=f"MathVista {split}", instructions=[instruction(p) for p in problems],
        image_root=data.image_root, expected={p.id: p.answer or "(not public)" for p in problems},
        score=lambda texts, failed, extracted: score_responses(problems, texts, failed, extracted, extractor_name),
        extraction_prompt=lambda pid, response: extraction_prompt(data.items[pid], response), primary="task",
        rejected=data.rejected)
