"""SciFIBench: pick the caption for a figure (or the figure for a caption), accuracy per task and domain.

Prompt, SciFIBench README "Example code" (github.com/jonathan-roberts1/SciFIBench; read, not copied):
the options, the question, then "Let's think step by step. Only provide the letter of the correct
caption as your answer. Answer:" ("image" instead of "caption" for Caption→Figure). The README's
f-string prints the options as a Python list; here they are one per line, the same words.

Scoring there: an LLM (Gemini-1.0-Pro) is asked to return only the letter of the answer found in the
output, or "None"; right iff that equals the `Answer` letter. Here the letter comes from
- `rules` (default): choice.py's documented rule (stated answer, option marker, quoted option text);
- `model:NAME`: a local model answering `extraction_prompt` (the same request, in our words) through
  our own generation path.
Breakdowns: task (Figure2Caption / Caption2Figure), domain (CS / General) and the figure's category.
"""

from __future__ import annotations

import re

from scitune.contracts import Instruction
from scitune.evaluate import suite
from scitune.evaluate.choice import extract_letter, strip_option_letter
from scitune.sources.benchmarks.common import BenchmarkSet
from scitune.sources.benchmarks.scifibench import SciFIBenchItem


def prompt(item: SciFIBenchItem) -> str:
    target = "caption" if item.task == "Figure2Caption" else "image"
    options = "\n".join(option.strip() for option in item.options)
    return (f"{options}\n{item.question} Let's think step by step. "
            f"Only provide the letter of the correct {target} as your answer. Answer:")


def extraction_prompt(item: SciFIBenchItem, response: str) -> str:
    last = chr(ord("A") + len(item.options) - 1)
    return (f'Output of a generative model:\n"{response.strip()}"\nThis output answers a multiple-choice question '
            f"with options A) to {last}). Reply with the letter of its answer only, or None if it gives no answer.")


def read_model_letter(text: str, n_options: int) -> str | None:
    """The letter a local extractor model replied, or None ('None', or anything else)."""
    match = re.match(r"\s*\(?([A-Z])\b", text or "")
    letter = match.group(1) if match else None
    return letter if letter and ord(letter) - ord("A") < n_options else None


def instruction(item: SciFIBenchItem) -> Instruction:
    return Instruction(
        id=item.id, image=item.image, conversations=[suite.human_turn(prompt(item), item.image),
                                                     {"from": "gpt", "value": item.answer}],
        source={"dataset": "scifibench", "record": item.id, "task": item.task,
                "fields": ["Question", "Options", "Images", "Answer"]})


def score(items: list[SciFIBenchItem], texts: dict[str, str], failed: set[str] = frozenset(),
          extracted: dict[str, str] | None = None, extractor_name: str = "model") -> dict:
    """Accuracy; the letter read by the rules, or from EXTRACTED (a local model's replies) when given."""
    by_id = {i.id: i for i in items}
    ids = list(by_id)
    letters, unanswered = {}, 0
    for item in items:
        text = texts.get(item.id, "")
        if extracted is not None:
            letter = read_model_letter(extracted.get(item.id, ""), len(item.options))
        else:
            letter = extract_letter(text, [strip_option_letter(o) for o in item.options]) if text.strip() else None
        unanswered += letter is None
        letters[item.id] = letter
    outcomes = {i.id: int(letters[i.id] == i.answer) for i in items}
    breakdowns = {
        "task": suite.breakdown(ids, outcomes, lambda i: [by_id[i].task]),
        "domain": suite.breakdown(ids, outcomes, lambda i: [by_id[i].domain]),
        "category": suite.breakdown(ids, outcomes, lambda i: [by_id[i].category or "unknown"]),
    }
    extractor = f"model:{extractor_name}" if extracted is not None else "rules (choice.py)"
    return suite.result("scifibench", "accuracy", extractor, ids, outcomes, breakdowns, texts, set(failed),
                        parse_failures=unanswered, letters=letters)


def benchmark(data: BenchmarkSet[SciFIBenchItem], extractor_name: str = "model") -> suite.Benchmark:
    items = list(data.items.values())
    by_id = {i.id: i for i in items}
    return suite.Benchmark(
        name="scifibench", title="SciFIBench", instructions=[instruction(i) for i in items],
        image_root=data.image_root, expected={i.id: next((o for o in i.options if o.strip().startswith(i.answer)),
                                                         i.answer) for i in items},
        score=lambda texts, failed, extracted: score(items, texts, failed, extracted, extractor_name),
        extraction_prompt=lambda item_id, response: extraction_prompt(by_id[item_id], response), primary="task",
        rejected=data.rejected)
