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
- `rules`: `mathvista_extract.extract_answer`, deterministic and documented;
- `model:NAME`: a local model answering `mathvista_extract.extraction_prompt` through our own
  generation path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

from scitune.contracts import Instruction
from scitune.evaluate import suite
from scitune.evaluate.mathvista_extract import clean_model_extraction, extract_answer, extraction_prompt
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
          failed: Iterable[str] = ()) -> dict:
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
