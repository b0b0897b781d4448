"""Figure-type accuracy: exact match of the type label, with the confusion counts."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from scitune.contracts import Prediction


def normalize_label(text: str) -> str:
    return re.sub(r"[^a-z0-9 ]", "", text.lower()).strip()


def score_figure_types(expected: dict[str, str], predictions: Iterable[Prediction], labels: list[str]) -> dict:
    """Accuracy of the label (case and punctuation ignored) over EXPECTED {id: label}.

    `labels` are the types the prompt offers; chance is one over their number. Anything that is
    not exactly one of them counts as '(other)' in the confusion table.
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
