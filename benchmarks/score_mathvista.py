"""Time MathVista scoring on the 1,000 testmini problems, and measure the rule-based extractor.

Uses ../shared/data/mathvista (SCITUNE_TEST_DATA overrides): testmini.json and the authors' Bard and
frequent-guess runs. Prints, best of 5: reading the problems and a run, scoring its published
extractions with every breakdown (ours), the same scores computed the way calculate_score.py does —
a pandas DataFrame filtered once per breakdown value (the baseline, written here for the comparison) —
and the rule-based extraction of all 1,000 responses. Then the extractor's agreement with the
published GPT-4 extractions.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from scitune.evaluate import mathvista as mv
from scitune.evaluate import mathvista_extract as ex
from scitune.sources.benchmarks import mathvista as source


def _best(fn, repeat: int = 5):
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def _pandas_scores(problems, correct: dict[str, bool]) -> dict:
    """The baseline: one DataFrame, one boolean filter per (breakdown, value), as the official script."""
    import pandas as pd

    rows = [{**p.metadata, "question_type": p.question_type, "answer_type": p.answer_type,
             "true_false": correct[p.id]} for p in problems]
    df = pd.DataFrame(rows)
    scores = {"average": {"correct": int(df["true_false"].sum()), "total": len(df)}}
    for key in source.CATEGORY_KEYS:
        values = sorted({v for x in df[key] for v in (x if isinstance(x, list) else [x])})
        scores[key] = {}
        for value in values:
            picked = df[df[key].apply(lambda x, v=value: v in x)] if key == "skills" else df[df[key] == value]
            hits = int(picked["true_false"].sum())
            scores[key][value] = {"accuracy": f"{hits / len(picked) * 100:.2f}", "correct": hits,
                                  "total": len(picked)}
    return scores


def main() -> None:
    data = Path(os.environ.get("SCITUNE_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    root = data / "mathvista"
    if not (root / "testmini.json").is_file():
        sys.exit(f"MathVista files not found under {root} (set SCITUNE_TEST_DATA)")
    read, testmini = _best(lambda: source.read_json(root / "testmini.json"))
    print(f"read testmini.json ({len(testmini.items)} problems): {read * 1000:.1f} ms")
    for run in ("bard", "frequent_guess"):
        read_run, records = _best(lambda r=run: mv.read_official_output(root / f"output_{r}.json"))
        problems, _ = mv.problems_from_output(records, testmini.items)
        extractions = {pid: r["extraction"] for pid, r in records.items()}
        ours, result = _best(lambda p=problems, e=extractions: mv.score(p, e, "published"))
        correct = {pid: bool(hit) for pid, hit in result["outcomes"].items()}
        baseline, table = _best(lambda p=problems, c=correct: _pandas_scores(p, c))
        same = all(table[k][v]["correct"] == result["official"][k][v]["correct"]
                   for k in source.CATEGORY_KEYS for v in table[k])
        rules, _ = _best(lambda r=records, ps=problems: {p.id: ex.extract_answer(r[p.id]["response"], p) for p in ps})
        agree = mv.agreement(testmini.items, records)
        print(f"\n{run}: read {read_run * 1000:.1f} ms · score {result['official']['average']['accuracy']} "
              f"(published extractions)")
        print(f"  scoring with every breakdown: ours {ours * 1000:.1f} ms, pandas per-value filters "
              f"{baseline * 1000:.1f} ms ({baseline / ours:.1f}x ours), same counts: {'yes' if same else 'NO'}")
        print(f"  rule-based extraction of {len(problems)} responses: {rules * 1000:.1f} ms")
        print(f"  rules vs published GPT-4 extraction: same text {agree['same_extraction']}%, same normalised "
              f"answer {agree['same_answer']}%, accuracy {agree['accuracy_rules']} vs {agree['accuracy_published']}")


if __name__ == "__main__":
    main()
