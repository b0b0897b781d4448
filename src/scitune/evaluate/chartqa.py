"""ChartQA: relaxed accuracy, overall and on the human / augmented halves of the test set.

The metric is the one the ChartQA paper defines (end of §5.1: a numeric answer is right within 5%
of the gold answer, any other answer needs an exact match) as implemented in google-research
pix2struct `pix2struct/metrics.py` `relaxed_correctness` (read, not copied), the function lmms-eval
and the Pix2Struct/MatCha/DePlot papers score ChartQA with:
- a text ending in "%" is read as a number divided by 100, anything else with Python's float();
- when the prediction is a number and the gold answer a non-zero number: right iff
  |prediction − gold| / |gold| ≤ 0.05; otherwise right iff the two strings are equal ignoring case;
- an item is right when any of its gold answers accepts the prediction (`aggregate_metrics` max).
The prediction is the generated text with surrounding whitespace removed (lmms-eval's models strip
their outputs); nothing else is normalised, so "12%" against a gold "12" is wrong, as officially.

Prompt: the question followed by LLaVA-1.5's short-answer instruction, the lmms-eval default for
ChartQA ("\\nAnswer the question using a single word or phrase.").
"""

from __future__ import annotations

from scitune.contracts import Instruction
from scitune.evaluate import suite
from scitune.sources.benchmarks.chartqa import ChartQAItem
from scitune.sources.benchmarks.common import BenchmarkSet

PROMPT_SUFFIX = "\nAnswer the question using a single word or phrase."
MAX_RELATIVE_CHANGE = 0.05


def _to_float(text: str) -> float | None:
    try:
        if text.endswith("%"):
            return float(text.rstrip("%")) / 100.0
        return float(text)
    except ValueError:
        return None


def relaxed_correctness(target: str, prediction: str, max_relative_change: float = MAX_RELATIVE_CHANGE) -> bool:
    """Right within 5% for numbers (a zero gold answer needs the same text), exact match otherwise."""
    prediction_float = _to_float(prediction)
    target_float = _to_float(target)
    if prediction_float is not None and target_float:
        return abs(prediction_float - target_float) / abs(target_float) <= max_relative_change
    return prediction.lower() == target.lower()


def is_correct(item: ChartQAItem, text: str) -> bool:
    prediction = text.strip()
    return any(relaxed_correctness(label, prediction) for label in item.labels)


def instruction(item: ChartQAItem) -> Instruction:
    return Instruction(
        id=item.id, image=item.image,
        conversations=[suite.human_turn(f"{item.question}{PROMPT_SUFFIX}", item.image),
                       {"from": "gpt", "value": item.labels[0]}],
        source={"dataset": "chartqa", "record": item.id, "split": item.split, "fields": ["query", "label"]})


def score(items: list[ChartQAItem], texts: dict[str, str], failed: set[str] = frozenset(),
          extracted: dict[str, str] | None = None) -> dict:
    """Relaxed accuracy over ITEMS; a missing or failed prediction is wrong."""
    if extracted is not None:
        raise ValueError("ChartQA scores the generated text itself; it has no extractor model")
    by_id = {i.id: i for i in items}
    outcomes = {i.id: int(i.id in texts and is_correct(i, texts[i.id])) for i in items}
    ids = list(by_id)
    return suite.result("chartqa", "relaxed accuracy", "none (the stripped answer is compared)", ids, outcomes,
                        {"split": suite.breakdown(ids, outcomes, lambda i: [by_id[i].split])}, texts, set(failed))


def benchmark(data: BenchmarkSet[ChartQAItem], split: str = "test") -> suite.Benchmark:
    items = list(data.items.values())
    return suite.Benchmark(
        name="chartqa", title=f"ChartQA {split}", instructions=[instruction(i) for i in items],
        image_root=data.image_root, expected={i.id: " | ".join(i.labels) for i in items},
        score=lambda texts, failed, extracted: score(items, texts, failed, extracted), primary="split",
        rejected=data.rejected)
