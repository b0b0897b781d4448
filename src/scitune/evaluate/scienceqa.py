"""The ScienceQA scorer: deterministic answer extraction and accuracy per official category.

Categories follow the official evaluator: NAT/SOC/LAN by subject; TXT = hint non-empty, IMG = image
present, NO = neither (TXT and IMG overlap); G1-6 / G7-12 by grade; Avg over all questions of the
split. A prediction that cannot be parsed counts as wrong under the default policy (the official
rule); `random` picks a seeded option per pid, `exclude` leaves it out. A category family whose
metadata is missing for any problem (LLaVA's files carry no subject or grade) is reported as None.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from scitune.contracts import Problem
from scitune.curate.scienceqa import LETTERS

CATEGORIES = ("NAT", "SOC", "LAN", "TXT", "IMG", "NO", "G1-6", "G7-12", "Avg")
SUBJECTS = {"natural science": "NAT", "social science": "SOC", "language science": "LAN"}
Policy = Literal["wrong", "random", "exclude"]

REFERENCE_ROWS: dict[str, tuple[float, ...]] = {
    # Official leaderboard / papers, in CATEGORIES order.
    "Human": (90.23, 84.97, 87.48, 89.60, 87.50, 88.10, 91.59, 82.42, 88.40),
    "Random": (40.28, 46.13, 29.25, 47.45, 40.08, 33.66, 39.35, 40.67, 39.83),
    "LLaVA-13B": (90.36, 95.95, 88.00, 89.49, 88.00, 90.66, 90.93, 90.90, 90.92),
    "LLaMA-SciTune-13B": (89.30, 95.61, 87.00, 93.08, 86.67, 91.75, 84.37, 91.30, 90.03),
    "LLaMA-SciTune-7B": (84.50, 94.15, 82.91, 88.35, 83.64, 88.74, 85.05, 85.60, 86.11),
}

_PATTERNS = (
    re.compile(r"ANSWER:\s*\(?([A-E])\)?\.?\s*$"),            # LEPA: '…###\nANSWER: B.'
    re.compile(r"[Tt]he answer is:?\s*\(?([A-E])\)?(?=[.\s]|$)"),
    re.compile(r"^\(?([A-E])\)?(?:[.)]?)$"),                     # 'B', 'B.', '(B)'
)


def extract_choice(text: str, choices: list[str]) -> int | None:
    """The chosen option index, or None when the text names none (a parse failure).

    Accepted, in this order: `ANSWER: X.` at the end (LEPA), `The answer is X`, a bare letter as
    `X`, `X.` or `(X)`, and the exact text of one option (case-insensitive). Nothing else.
    """
    text = text.strip()
    for pattern in _PATTERNS:
        match = pattern.search(text)
        if match:
            index = LETTERS.index(match.group(1))
            return index if index < len(choices) else None
    normalized = text.rstrip(".").strip().lower()
    matches = [i for i, choice in enumerate(choices) if normalized == choice.strip().lower()]
    return matches[0] if len(matches) == 1 else None


@dataclass
class Answers:
    """Predictions by pid: generated text or a choice index, and what could not be read."""

    text: dict[str, str] = field(default_factory=dict)
    index: dict[str, int] = field(default_factory=dict)
    issues: list[str] = field(default_factory=list)
    duplicates: int = 0
    malformed: int = 0

    def ids(self) -> set[str]:
        return set(self.text) | set(self.index)


def load_answers(path: Path) -> Answers:
    """Our predictions JSONL ({"id", "text"}), LLaVA answer JSONL ({"question_id", "text"}), or the
    official results JSON ({"results": {pid: choice index}}). Bad lines are counted, not fatal."""
    path = Path(path)
    answers = Answers()
    content = path.read_text(encoding="utf-8")
    if content.lstrip().startswith("{") and "\n{" not in content.strip():
        data = json.loads(content)
        if "results" in data:
            for pid, index in data["results"].items():
                if isinstance(index, bool) or not isinstance(index, int):
                    answers.issues.append(f"prediction for {pid}: choice index {index!r} is not an integer")
                    answers.malformed += 1
                    continue
                answers.index[str(pid)] = index
            return answers
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            pid = str(record["id"] if "id" in record else record["question_id"])
            text = record["text"]
            if not isinstance(text, str):
                raise TypeError("'text' is not a string")
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            answers.malformed += 1
            answers.issues.append(f"{path.name}:{number}: unreadable prediction line ({error})")
            continue
        if pid in answers.text:
            answers.duplicates += 1
            answers.issues.append(f"prediction for {pid} appears more than once; the first is scored")
            continue
        answers.text[pid] = text
    return answers


def categories_of(problem: Problem) -> list[str]:
    """The official categories a problem counts in (Avg excluded)."""
    found = []
    if problem.subject in SUBJECTS:
        found.append(SUBJECTS[problem.subject])
    has_text, has_image = bool(problem.hint.strip()), bool(problem.image)
    found += ["TXT"] * has_text + ["IMG"] * has_image + ["NO"] * (not has_text and not has_image)
    if problem.grade and problem.grade.startswith("grade") and problem.grade[5:].isdigit():
        found.append("G1-6" if int(problem.grade[5:]) <= 6 else "G7-12")
    return found


def _unavailable(problems: list[Problem]) -> dict[str, str]:
    missing_subject = sum(p.subject not in SUBJECTS for p in problems)
    missing_grade = sum(not (p.grade or "").startswith("grade") for p in problems)
    reasons = {}
    if missing_subject:
        for category in ("NAT", "SOC", "LAN"):
            reasons[category] = f"subject unknown for {missing_subject} of {len(problems)} problems"
    if missing_grade:
        for category in ("G1-6", "G7-12"):
            reasons[category] = f"grade unknown for {missing_grade} of {len(problems)} problems"
    return reasons


def score(problems: Iterable[Problem], answers: Answers, policy: Policy = "wrong", seed: int = 0) -> dict:
    """Accuracy per category (percent, two decimals) with counts and every failure counted."""
    problems = list(problems)
    correct, total = Counter(), Counter()
    by_topic, by_skill = defaultdict(Counter), defaultdict(Counter)
    failures = missing = invalid = 0
    outcomes: dict[str, int] = {}
    issues = list(answers.issues)
    for problem in problems:
        if problem.pid in answers.index:
            choice = answers.index[problem.pid]
            if not 0 <= choice < len(problem.choices):
                invalid += 1
                issues.append(f"prediction for {problem.pid}: choice index {choice} is out of range "
                              f"for {len(problem.choices)} choices")
                choice = None
        elif problem.pid in answers.text:
            choice = extract_choice(answers.text[problem.pid], problem.choices)
            failures += choice is None
        else:
            missing += 1
            choice = None
        if choice is None:
            if policy == "exclude":
                continue
            if policy == "random":
                choice = random.Random(f"{seed}:{problem.pid}").randrange(len(problem.choices))
        hit = choice == problem.answer
        outcomes[problem.pid] = int(hit)
        for category in [*categories_of(problem), "Avg"]:
            total[category] += 1
            correct[category] += hit
        for table, key in ((by_topic, problem.topic), (by_skill, problem.skill)):
            if key:
                table[key]["total"] += 1
                table[key]["correct"] += hit
    known = {p.pid for p in problems}
    unknown = sorted(answers.ids() - known)
    if unknown:
        issues.append(f"{len(unknown)} predictions name pids that are not in the scored problems "
                      f"(first: {', '.join(unknown[:5])})")
    unavailable = _unavailable(problems)

    def pct(c: int, t: int) -> float | None:
        return round(100 * c / t, 2) if t else None

    return {
        "accuracy": {c: None if c in unavailable else pct(correct[c], total[c]) for c in CATEGORIES},
        "counts": {c: total[c] for c in CATEGORIES},
        "correct": {c: correct[c] for c in CATEGORIES},
        "unavailable": unavailable,
        "parse_failures": failures,
        "missing": missing,
        "invalid_predictions": invalid,
        "malformed_lines": answers.malformed,
        "duplicate_predictions": answers.duplicates,
        "unknown_predictions": len(unknown),
        "policy": policy,
        "by_topic": {k: {"accuracy": pct(v["correct"], v["total"]), "count": v["total"]} for k, v in sorted(by_topic.items())},
        "by_skill": {k: {"accuracy": pct(v["correct"], v["total"]), "count": v["total"]} for k, v in sorted(by_skill.items())},
        "issues": issues[:50],
        "outcomes": outcomes,
    }


def markdown_table(result: dict, name: str = "this run") -> str:
    """Our row beside the published reference rows, as the papers print them."""
    def cell(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f}"

    lines = ["| model | " + " | ".join(CATEGORIES) + " |", "|---|" + "---|" * len(CATEGORIES)]
    lines.append(f"| **{name}** | " + " | ".join(cell(result["accuracy"][c]) for c in CATEGORIES) + " |")
    for row, values in REFERENCE_ROWS.items():
        lines.append(f"| {row} | " + " | ".join(f"{v:.2f}" for v in values) + " |")
    counts = result["counts"]
    footer = (f"\nQuestions: {counts['Avg']} · parse failures {result['parse_failures']} · missing "
              f"{result['missing']} · invalid {result['invalid_predictions']} · policy `{result['policy']}`")
    if result["unavailable"]:
        footer += "\n\nn/a: " + "; ".join(sorted({f"{v}" for v in result["unavailable"].values()}))
    return "\n".join(lines) + "\n" + footer + "\n"
