"""Scores: figure-type accuracy and ScienceQA-style multiple-choice accuracy per category.

Categories follow the official ScienceQA evaluator: NAT/SOC/LAN by subject, TXT = hint non-empty,
IMG = image present, NO = neither, G1-6 / G7-12 by grade, Avg over all questions. A prediction
that cannot be parsed counts as wrong; a category with no question is reported as None (n/a).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from scitune.contracts import Prediction, Problem
from scitune.curate.scienceqa import LETTERS

CATEGORIES = ("NAT", "SOC", "LAN", "TXT", "IMG", "NO", "G1-6", "G7-12", "Avg")
_SUBJECT = {"natural science": "NAT", "social science": "SOC", "language science": "LAN"}

_PATTERNS = (
    re.compile(r"ANSWER:\s*\(?([A-E])\)?\.?\s*$"),           # LEPA: '… ###\nANSWER: B.'
    re.compile(r"[Tt]he answer is\s*\(?([A-E])\)?(?:\.|\s|$)"),
    re.compile(r"^\(?([A-E])\)?(?:\.|\)|$)"),                  # 'B', 'B.', '(B)'
)


def extract_choice(text: str, choices: list[str]) -> int | None:
    """The chosen option index, or None when the text names none (a parse failure)."""
    text = text.strip()
    for pattern in _PATTERNS:
        match = pattern.search(text)
        if match and LETTERS.index(match.group(1)) < len(choices):
            return LETTERS.index(match.group(1))
    normalized = text.rstrip(".").strip().lower()
    for index, choice in enumerate(choices):
        if normalized == choice.strip().lower():
            return index
    return None


def categories_of(problem: Problem) -> list[str]:
    found = []
    if problem.subject in _SUBJECT:
        found.append(_SUBJECT[problem.subject])
    has_text, has_image = bool(problem.hint.strip()), bool(problem.image)
    if has_text:
        found.append("TXT")
    if has_image:
        found.append("IMG")
    if not has_text and not has_image:
        found.append("NO")
    if problem.grade and problem.grade.startswith("grade") and problem.grade[5:].isdigit():
        found.append("G1-6" if int(problem.grade[5:]) <= 6 else "G7-12")
    return found


def score_choices(problems: Iterable[Problem], predictions: Iterable[Prediction]) -> dict:
    """Accuracy (percent, two decimals) per category, counts, parse failures and missing ones."""
    by_id = {p.id: p for p in predictions}
    correct, total = Counter(), Counter()
    failures = missing = 0
    for problem in problems:
        prediction = by_id.get(problem.pid)
        choice = None
        if prediction is None:
            missing += 1
        else:
            choice = extract_choice(prediction.text, problem.choices)
            failures += choice is None
        for category in [*categories_of(problem), "Avg"]:
            total[category] += 1
            correct[category] += choice == problem.answer
    return {
        "accuracy": {c: round(100 * correct[c] / total[c], 2) if total[c] else None for c in CATEGORIES},
        "counts": {c: total[c] for c in CATEGORIES},
        "parse_failures": failures,
        "missing": missing,
    }


def normalize_label(text: str) -> str:
    return re.sub(r"[^a-z0-9 ]", "", text.lower()).strip()


def score_figure_types(expected: dict[str, str], predictions: Iterable[Prediction], labels: list[str]) -> dict:
    """Exact-match accuracy of the type label (case and punctuation ignored) and the confusion counts.

    `labels` are the types the prompt offers; chance is one over their number.
    """
    by_id = {p.id: p for p in predictions}
    labels = sorted(set(labels) | set(expected.values()))
    confusion = {label: Counter() for label in sorted(set(expected.values()))}
    correct = 0
    for item_id, label in expected.items():
        prediction = by_id.get(item_id)
        said = normalize_label(prediction.text) if prediction else ""
        guess = said if said in labels else "(other)"
        confusion[label][guess] += 1
        correct += guess == label
    return {
        "accuracy": round(100 * correct / len(expected), 2) if expected else None,
        "count": len(expected),
        "chance": round(100 / len(labels), 2) if labels else None,
        "confusion": {label: dict(counts) for label, counts in confusion.items()},
    }
