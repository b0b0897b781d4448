"""Time the ScienceQA scorer on 4,241 predictions (the test split's size).

Uses the real LLaVA test file and the GPT-3 run from ../shared/data when present (SCITUNE_TEST_DATA
overrides), else 4,241 synthetic problems. Prints seconds for reading problems, reading
predictions and scoring, best of 5.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
from pathlib import Path

from scitune.contracts import Problem
from scitune.evaluate.scienceqa import load_answers, score
from scitune.sources.scienceqa import load_problems


def _best(fn, repeat: int = 5) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    data = Path(os.environ.get("SCITUNE_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    problems_path = data / "scienceqa" / "llava_test_CQM-A.json"
    predictions_path = data / "scienceqa" / "gpt3_test_QCM-ALE_predictions.json"
    tmp = Path(tempfile.mkdtemp())
    if not problems_path.is_file():
        rng = random.Random(0)
        problems = {str(i): Problem(pid=str(i), question="q", choices=["a", "b", "c"], answer=rng.randrange(3),
                                    split="test", subject="natural science", grade="grade3").model_dump(exclude={"pid"})
                    for i in range(4241)}
        problems_path = tmp / "problems.json"
        problems_path.write_text(json.dumps(problems))
        predictions_path = tmp / "pred.jsonl"
        predictions_path.write_text("".join(json.dumps({"id": pid, "text": f"The answer is {rng.choice('ABC')}."}) + "\n"
                                            for pid in problems))
    read_problems, problem_set = _best(lambda: load_problems(problems_path))
    read_answers, answers = _best(lambda: load_answers(predictions_path))
    scoring, result = _best(lambda: score(problem_set.problems.values(), answers))
    print(f"problems: {problems_path.name} ({len(problem_set.problems)}), predictions: {predictions_path.name}")
    print(f"read problems    {read_problems * 1000:7.1f} ms")
    print(f"read predictions {read_answers * 1000:7.1f} ms")
    print(f"score            {scoring * 1000:7.1f} ms   (Avg {result['accuracy']['Avg']})")
    print(f"total            {(read_problems + read_answers + scoring) * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
