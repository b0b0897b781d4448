"""Time the ScienceQA scorer on 4,241 predictions (the test split's size), under each answer rule.

Uses the real LLaVA test file and the GPT-3 run from ../shared/data when present (SCITUNE_TEST_DATA
overrides), else 4,241 synthetic problems and texts. Prints milliseconds, best of 5, for reading
problems and predictions, then scoring: the published choice indices (no text read; the baseline) and
the generated texts under every rule, with the ratio to the baseline and what each rule could not read.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
from pathlib import Path

from scitune.contracts import Problem
from scitune.evaluate.answer_rules import RULE_NAMES
from scitune.evaluate.scienceqa import load_answers, score
from scitune.sources.scienceqa import load_problems


def _best(fn, repeat: int = 5) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def _synthetic(tmp: Path) -> tuple[Path, Path]:
    rng = random.Random(0)
    problems = {str(i): Problem(pid=str(i), question="q", choices=["a", "b", "c"], answer=rng.randrange(3),
                                split="test", subject="natural science", grade="grade3").model_dump(exclude={"pid"})
                for i in range(4241)}
    problems_path = tmp / "problems.json"
    problems_path.write_text(json.dumps(problems))
    letters = {pid: rng.choice("ABC") for pid in problems}
    predictions_path = tmp / "results.json"
    predictions_path.write_text(json.dumps({
        "results": {pid: "ABC".index(letter) for pid, letter in letters.items()},
        "outputs": {pid: f"LECTURE: …\nSOLUTION: …\nThe answer is {letter}.\n###\nANSWER: {letter}."
                    for pid, letter in letters.items()},
    }))
    return problems_path, predictions_path


def main() -> None:
    data = Path(os.environ.get("SCITUNE_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    problems_path = data / "scienceqa" / "llava_test_CQM-A.json"
    predictions_path = data / "scienceqa" / "gpt3_test_QCM-ALE_predictions.json"
    if not problems_path.is_file():
        problems_path, predictions_path = _synthetic(Path(tempfile.mkdtemp()))
    read_problems, problem_set = _best(lambda: load_problems(problems_path))
    problems = list(problem_set.problems.values())
    read_indices, indices = _best(lambda: load_answers(predictions_path))
    read_texts, texts = _best(lambda: load_answers(predictions_path, source="outputs"))
    print(f"problems: {problems_path.name} ({len(problems)}), predictions: {predictions_path.name}")
    print(f"read problems              {read_problems * 1000:7.1f} ms")
    print(f"read predictions (indices) {read_indices * 1000:7.1f} ms")
    print(f"read predictions (texts)   {read_texts * 1000:7.1f} ms")
    baseline, result = _best(lambda: score(problems, indices))
    print(f"score indices (baseline)   {baseline * 1000:7.1f} ms   Avg {result['accuracy']['Avg']}")
    for rule in RULE_NAMES:
        took, result = _best(lambda: score(problems, texts, rule=rule))
        failures = ", ".join(f"{reason} {n}" for reason, n in result["parse_failures_by_reason"].items()) or "none"
        print(f"score texts, {rule:<13} {took * 1000:7.1f} ms   ×{took / baseline:4.2f}   Avg "
              f"{result['accuracy']['Avg']:6.2f}   failures: {failures}")


if __name__ == "__main__":
    main()
