"""The ScienceQA scorer: answer extraction by a named rule and accuracy per official category.

Categories follow the official evaluator: NAT/SOC/LAN by subject; TXT = hint non-empty, IMG = image
present, NO = neither (TXT and IMG overlap); G1-6 / G7-12 by grade; Avg over all questions of the
split. A category family whose metadata is missing for any problem (LLaVA's files carry no subject
or grade) is reported as None.

Answers are read from text by a rule (answer_rules.py): `official` by default, bit for bit as
ScienceQA's evaluator; every result records its rule. A text the rule cannot read, or a missing
prediction, is a failure, scored by the policy: `wrong` (LLaVA-1.5's evaluator), `random` (a seeded
option per pid; ScienceQA's evaluator also picks at random, from an unseeded-per-pid global RNG, so
its draws cannot be replayed), or `exclude` (left out of every count).
"""

from __future__ import annotations

import json
import logging
import random
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from scitune.contracts import Problem
from scitune.evaluate.answer_rules import RULES, Rule, check_rule, read_answer, rule_for_format

__all__ = ["CATEGORIES", "REFERENCE_ROWS", "RULES", "Answers", "Rule", "categories_of", "extract_choice",
           "load_answers", "markdown_table", "rule_for_format", "score", "scoring_note"]

log = logging.getLogger(__name__)

CATEGORIES = ("NAT", "SOC", "LAN", "TXT", "IMG", "NO", "G1-6", "G7-12", "Avg")
SUBJECTS = {"natural science": "NAT", "social science": "SOC", "language science": "LAN"}
Policy = Literal["wrong", "random", "exclude"]
POLICIES = ("wrong", "random", "exclude")
Source = Literal["results", "outputs"]

REFERENCE_ROWS: dict[str, tuple[float, ...]] = {
    # Official leaderboard / papers, in CATEGORIES order.
    "Human": (90.23, 84.97, 87.48, 89.60, 87.50, 88.10, 91.59, 82.42, 88.40),
    "Random": (40.28, 46.13, 29.25, 47.45, 40.08, 33.66, 39.35, 40.67, 39.83),
    "LLaVA-13B": (90.36, 95.95, 88.00, 89.49, 88.00, 90.66, 90.93, 90.90, 90.92),
    "LLaMA-SciTune-13B": (89.30, 95.61, 87.00, 93.08, 86.67, 91.75, 84.37, 91.30, 90.03),
    "LLaMA-SciTune-7B": (84.50, 94.15, 82.91, 88.35, 83.64, 88.74, 85.05, 85.60, 86.11),
}


def extract_choice(text: str, choices: list[str], rule: Rule = "official") -> int | None:
    """The chosen option index under RULE, or None when the rule reads no single option (a failure)."""
    return read_answer(text, choices, rule).index


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

    def bad(self, issue: str) -> None:
        self.malformed += 1
        self.issues.append(issue)


def _pid(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"id {value!r} is not a string or an integer")
    return str(value)


def _official_json(data: dict, name: str, source: Source, answers: Answers) -> None:
    """The official results JSON: `results` {pid: choice index} and `outputs` {pid: generated text}."""
    if source not in data:
        other = "outputs" if source == "results" else "results"
        hint = f"; read its '{other}' with source='{other}'" if other in data else ""
        answers.bad(f"{name}: no '{source}' map in the results file (keys: {', '.join(sorted(data))}){hint}")
        return
    entries = data[source]
    if not isinstance(entries, dict):
        answers.bad(f"{name}: '{source}' is a {type(entries).__name__}, not a map of pid to prediction")
        return
    for pid, value in entries.items():
        if source == "results":
            if isinstance(value, bool) or not isinstance(value, int):
                answers.bad(f"prediction for {pid}: choice index {value!r} is not an integer")
                continue
            answers.index[str(pid)] = value
        elif not isinstance(value, str):
            answers.bad(f"prediction for {pid}: output {value!r} is not a string")
        else:
            answers.text[str(pid)] = value


def _jsonl(lines: list[bytes], name: str, answers: Answers) -> None:
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8"))
            if not isinstance(record, dict):
                raise TypeError(f"a JSON {type(record).__name__}, not an object")
            pid = _pid(record["id"] if "id" in record else record["question_id"])
            text = record["text"]
            if not isinstance(text, str):
                raise TypeError("'text' is not a string")
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as error:
            detail = f"missing field {error}" if isinstance(error, KeyError) else str(error)
            answers.bad(f"{name}:{number}: unreadable prediction line ({detail})")
            continue
        if pid in answers.text:
            answers.duplicates += 1
            answers.issues.append(f"prediction for {pid} appears more than once; the first is scored")
            continue
        answers.text[pid] = text


def load_answers(path: Path, source: Source = "results") -> Answers:
    """Our predictions JSONL ({"id", "text"}), LLaVA answer JSONL ({"question_id", "text"}), or the
    official results JSON, read from its `results` choice indices (as published: no rule applied) or,
    with source="outputs", from its generated texts (read by the scoring rule).

    A torn or invalid line, or a torn results file, is counted in `malformed` and named in
    `issues`; nothing in a predictions file makes this raise."""
    path = Path(path)
    answers = Answers()
    raw = path.read_bytes().removeprefix(b"\xef\xbb\xbf")
    try:
        document = json.loads(raw.decode("utf-8")) if raw.lstrip().startswith(b"{") else None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        document = error
    if isinstance(document, dict) and ({"results", "outputs"} & set(document)):
        _official_json(document, path.name, source, answers)
    else:
        _jsonl(raw.splitlines(), path.name, answers)
        if isinstance(document, Exception) and not answers.text and answers.malformed > 1:
            # No line is a record: a whole JSON document (pretty-printed results) cut short, not N bad lines.
            answers = Answers()
            answers.bad(f"{path.name}: neither JSON lines nor a complete JSON document ({document}); torn file?")
    if answers.malformed:
        log.warning("%s: %d unreadable predictions (first: %s)", path.name, answers.malformed, answers.issues[0])
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


def _pid_order(pid: str) -> tuple[int, int | str]:
    return (0, int(pid)) if pid.isdigit() else (1, pid)


def score(problems: Iterable[Problem], answers: Answers, policy: Policy = "wrong", seed: int = 0,
          rule: Rule = "official") -> dict:
    """Accuracy per category (percent, two decimals) with counts and every failure counted.

    Texts are read by RULE (see answer_rules.RULES); choice indices (an official results file) are
    taken as given. The result names the rule and lists the pids whose text it could not read, by reason."""
    rule = check_rule(rule)
    if policy not in POLICIES:
        raise ValueError(f"unknown failure policy '{policy}': expected one of {', '.join(POLICIES)}")
    problems = list(problems)
    correct, total = Counter(), Counter()
    by_topic, by_skill = defaultdict(Counter), defaultdict(Counter)
    missing = invalid = from_text = from_index = 0
    failed: dict[str, list[str]] = defaultdict(list)
    outcomes: dict[str, int] = {}
    issues = list(answers.issues)
    for problem in problems:
        if problem.pid in answers.index:
            from_index += 1
            choice = answers.index[problem.pid]
            if not 0 <= choice < len(problem.choices):
                invalid += 1
                issues.append(f"prediction for {problem.pid}: choice index {choice} is out of range "
                              f"for {len(problem.choices)} choices")
                choice = None
        elif problem.pid in answers.text:
            from_text += 1
            reading = read_answer(answers.text[problem.pid], problem.choices, rule)
            choice = reading.index
            if reading.failure:
                failed[reading.failure].append(problem.pid)
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
    unknown = sorted(answers.ids() - known, key=_pid_order)
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
        "rule": rule,
        "rule_description": RULES[rule],
        "read_by_rule": from_text,
        "given_as_index": from_index,
        "parse_failures": sum(len(pids) for pids in failed.values()),
        "parse_failures_by_reason": {reason: len(pids) for reason, pids in sorted(failed.items())},
        "parse_failure_pids": {reason: sorted(pids, key=_pid_order) for reason, pids in sorted(failed.items())},
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


def scoring_note(result: dict) -> str:
    """One line saying how the answers were read and failures scored (older results: no rule recorded)."""
    rule = result.get("rule")
    read = f"answer rule `{rule}` ({RULES[rule]})" if rule in RULES else "answer rule not recorded"
    if result.get("given_as_index") and not result.get("read_by_rule"):
        read = "choice indices as given in the file (no text read)"
    elif result.get("given_as_index"):
        read += f"; {result['given_as_index']} answers given as choice indices"
    return f"{read} · failures scored `{result['policy']}`"


def markdown_table(result: dict, name: str = "this run") -> str:
    """Our row beside the published reference rows, as the papers print them."""
    def cell(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f}"

    lines = ["| model | " + " | ".join(CATEGORIES) + " |", "|---|" + "---|" * len(CATEGORIES)]
    lines.append(f"| **{name}** | " + " | ".join(cell(result["accuracy"][c]) for c in CATEGORIES) + " |")
    for row, values in REFERENCE_ROWS.items():
        lines.append(f"| {row} | " + " | ".join(f"{v:.2f}" for v in values) + " |")
    counts = result["counts"]
    reasons = result.get("parse_failures_by_reason") or {}
    why = f" ({', '.join(f'{reason} {n}' for reason, n in reasons.items())})" if reasons else ""
    footer = (f"\nQuestions: {counts['Avg']} · parse failures {result['parse_failures']}{why} · missing "
              f"{result['missing']} · invalid {result['invalid_predictions']} · malformed lines "
              f"{result.get('malformed_lines', 0)}\n\nScored with {scoring_note(result)}.")
    if result["unavailable"]:
        footer += "\n\nn/a: " + "; ".join(sorted({f"{v}" for v in result["unavailable"].values()}))
    return "\n".join(lines) + "\n" + footer + "\n"
