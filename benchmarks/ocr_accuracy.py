"""Character accuracy and seconds per figure of both OCR engines, on figures with known text.

The demo renderer draws every figure type with matplotlib and records exactly the text it drew, so
the ground truth is exact. Text order differs between engines and layouts (axis labels, legends,
table cells), so both sides are compared as their words sorted: character accuracy is
1 − edit distance / length of the truth; word recall is the share of true words found verbatim.

    python benchmarks/ocr_accuracy.py [--per-type 4] [--size 480]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from scitune.curate.ocr import RapidOcr, Tesseract, lines
from scitune.sources.demo import generate_corpus


def edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def words(texts: list[str]) -> list[str]:
    return sorted(word for text in texts for word in text.split())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-type", type=int, default=4)
    parser.add_argument("--size", type=int, default=480, help="figure size in pixels")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    records, _ = generate_corpus(work, args.per_type, 0.0, args.size, seed=0)
    records = [r for r in records if r.ocr]
    print(f"{len(records)} figures of {args.size} px with known text ({len(set(r.figure_type for r in records))} types)")
    rows = []
    for engine in (Tesseract(), RapidOcr()):
        per_type = defaultdict(list)
        started = time.perf_counter()
        for record in records:
            truth, found = " ".join(words(record.ocr)), lines(engine.read(work / record.image))
            accuracy = max(0.0, 1 - edit_distance(truth, " ".join(words(found))) / max(1, len(truth)))
            true_words, found_words = words(record.ocr), set(words(found))
            recall = sum(w in found_words for w in true_words) / max(1, len(true_words))
            per_type[record.figure_type].append((accuracy, recall))
        seconds = (time.perf_counter() - started) / len(records)
        every = [pair for pairs in per_type.values() for pair in pairs]
        rows.append((engine.name, every, per_type, seconds))
    types = sorted({t for _, _, per_type, _ in rows for t in per_type})
    print("\n| engine | char accuracy | word recall | s / figure | " + " | ".join(types) + " |")
    print("|---|---|---|---|" + "---|" * len(types))
    for name, every, per_type, seconds in rows:
        mean = lambda pairs, k: 100 * sum(p[k] for p in pairs) / len(pairs)  # noqa: E731
        print(f"| {name} | {mean(every, 0):.1f}% | {mean(every, 1):.1f}% | {seconds:.2f} | "
              + " | ".join(f"{mean(per_type[t], 0):.0f}%" for t in types) + " |")
    print("\nPer-type columns: character accuracy.")


if __name__ == "__main__":
    main()
