"""Figure benchmarks: figure-type accuracy (exact label, with a confusion table) and caption metrics."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from scitune.contracts import Instruction, Prediction
from scitune.curate.figures import split_ctom
from scitune.evaluate.captions import caption_metrics


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
    outcomes: dict[str, int] = {}
    for item_id, label in expected.items():
        prediction = by_id.get(item_id)
        said = normalize_label(prediction.text) if prediction else ""
        guess = said if said in labels else "(other)"
        confusion[label][guess] += 1
        correct += guess == label
        outcomes[item_id] = int(guess == label)
    return {
        "accuracy": round(100 * correct / len(expected), 2) if expected else None,
        "count": len(expected),
        "chance": round(100 / len(labels), 2) if labels else None,
        "confusion": {label: dict(counts) for label, counts in confusion.items()},
        "labels": labels,
        "outcomes": outcomes,
    }


def score_figures(instructions: Iterable[Instruction], predictions: Iterable[Prediction], labels: list[str]) -> dict:
    """Figure-type accuracy on the classification items and caption metrics on the description items.

    Caption metrics compare the caption part of the model's CTOM output with the caption part of
    the target (`split_ctom`); `full_text` compares whole outputs with whole targets.
    """
    predictions = {p.id: p for p in predictions}
    instructions = list(instructions)
    expected = {i.id: i.conversations[-1].value for i in instructions if i.source.get("task") == "figure_type"}
    describe = [i for i in instructions if i.source.get("task") == "describe"]
    said = {i.id: predictions[i.id].text if i.id in predictions else "" for i in describe}
    captions = {i.id: split_ctom(i.conversations[-1].value)["caption"] for i in describe}
    captions = {k: v for k, v in captions.items() if v}
    return {
        "figure_types": score_figure_types(expected, predictions.values(), labels),
        "captions": caption_metrics({k: [v] for k, v in captions.items()},
                                    {k: split_ctom(said[k])["caption"] for k in captions}),
        "full_text": caption_metrics({i.id: [i.conversations[-1].value] for i in describe}, said),
        "failed": sum(1 for p in predictions.values() if p.error),
    }
