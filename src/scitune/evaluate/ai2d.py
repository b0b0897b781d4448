"""AI2D: multiple choice with lettered options, scored as lmms-eval scores the test set VLM papers report.

Prompt and target, lmms-eval `lmms_eval/tasks/ai2d/` (utils.py `ai2d_doc_to_text` "mcq" format,
ai2d.yaml default prompt; read, not copied): the question, then one line per option `A. text`, then
"\\nAnswer with the option's letter from the given choices directly."; the target is the letter.
Score: `exact_match` with ignore_case and ignore_punctuation — the answer, stripped of surrounding
whitespace, lower-cased and with every ASCII punctuation character deleted, must equal the target
letter likewise ("(B)", "b." and "B" are right; "B. the sun" is not).

Also reported, not for comparison with papers: `accuracy_lenient`, the letter read by the rule in
choice.py (a stated answer, an option marker, the option text), for models that explain.
"""

from __future__ import annotations

import string

from scitune.contracts import Instruction
from scitune.evaluate import suite
from scitune.evaluate.choice import extract_letter
from scitune.sources.benchmarks.ai2d import AI2DItem
from scitune.sources.benchmarks.common import BenchmarkSet

PROMPT_SUFFIX = "\nAnswer with the option's letter from the given choices directly."
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def letter(index: int) -> str:
    return chr(ord("A") + index)


def prompt(item: AI2DItem) -> str:
    options = "\n".join(f"{letter(n)}. {option}" for n, option in enumerate(item.options))
    return f"{item.question}\n{options}{PROMPT_SUFFIX}"


def exact_match(prediction: str, target: str) -> bool:
    """lmms-eval's exact_match with ignore_case and ignore_punctuation, on the stripped answer."""
    def norm(text: str) -> str:
        return text.strip().lower().translate(_PUNCTUATION)

    return norm(prediction) == norm(target)


def instruction(item: AI2DItem) -> Instruction:
    return Instruction(
        id=item.id, image=item.image,
        conversations=[suite.human_turn(prompt(item), item.image),
                       {"from": "gpt", "value": letter(item.answer)}],
        source={"dataset": "ai2d", "record": item.id, "fields": ["question", "options", "answer"]})


def score(items: list[AI2DItem], texts: dict[str, str], failed: set[str] = frozenset(),
          extracted: dict[str, str] | None = None) -> dict:
    """Exact-match accuracy (the reported metric), the lenient letter accuracy, breakdowns by
    category and by whether the question names letters drawn on the diagram (official data only)."""
    if extracted is not None:
        raise ValueError("AI2D scores the answer letter itself; it has no extractor model")
    by_id = {i.id: i for i in items}
    ids = list(by_id)
    outcomes = {i.id: int(i.id in texts and exact_match(texts[i.id], letter(i.answer))) for i in items}
    lenient = sum(i.id in texts and extract_letter(texts[i.id], i.options) == letter(i.answer) for i in items)
    breakdowns = {}
    if all(i.category for i in items) and items:
        breakdowns["category"] = suite.breakdown(ids, outcomes, lambda i: [by_id[i].category])
    if all(i.abc_label is not None for i in items) and items:
        breakdowns["letters on the diagram"] = suite.breakdown(
            ids, outcomes, lambda i: ["yes" if by_id[i].abc_label else "no"])
    return suite.result("ai2d", "accuracy", "none (exact letter match)", ids, outcomes, breakdowns, texts, set(failed),
                        accuracy_lenient=suite.pct(lenient, len(ids)))


def benchmark(data: BenchmarkSet[AI2DItem]) -> suite.Benchmark:
    items = list(data.items.values())
    return suite.Benchmark(
        name="ai2d", title="AI2D test", instructions=[instruction(i) for i in items], image_root=data.image_root,
        expected={i.id: f"{letter(i.answer)}. {i.options[i.answer]}" for i in items},
        score=lambda texts, failed, extracted: score(items, texts, failed, extracted), primary="category",
        rejected=data.rejected)
