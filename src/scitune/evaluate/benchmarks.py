"""Benchmarks end to end: predictions, scores and the files people read, one path for every caller.

Each benchmark writes OUT_DIR/{predictions.jsonl, scores.json, scores.md, report.html, plots/}.
Predictions are resumed, so a rerun generates only what is missing and re-scores everything.
"""

from __future__ import annotations

import json
from html import escape
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from transformers import LlavaForConditionalGeneration, LlavaProcessor

from scitune.contracts import LETTERS, Instruction, Prediction, Problem, read_jsonl
from scitune.evaluate import html
from scitune.evaluate.figures import score_figures
from scitune.evaluate.predict import predict
from scitune.evaluate.shards import current_ranks
from scitune.evaluate.report import SHOWN_REFERENCES, plot_categories, plot_confusion
from scitune.evaluate.answer_rules import Rule, rule_for_format
from scitune.evaluate.scienceqa import CATEGORIES, REFERENCE_ROWS, Answers, markdown_table, score, scoring_note


@dataclass
class Generation:
    """How answers are generated: the same settings for every benchmark."""

    batch_size: int = 16
    max_new_tokens: int = 96
    system_prompt: str = ""
    answer_prompter: str | None = None
    model_name: str = ""
    on_batch: Callable[[int], None] | None = None


def _predict(model, processor, instructions, image_root, out_dir: Path, gen: Generation) -> list[Prediction]:
    path = out_dir / "predictions.jsonl"
    predict(model, processor, instructions, image_root, path, gen.system_prompt, gen.model_name, gen.max_new_tokens,
            gen.batch_size, on_batch=gen.on_batch, answer_prompter=gen.answer_prompter)
    return list(read_jsonl(path, Prediction))


def example_rows(instructions: list[Instruction], predictions: dict[str, Prediction], outcomes: dict[str, int],
              expected: Callable[[Instruction], str]) -> list[html.Example]:
    return [
        html.Example(id=i.id, prompt=i.conversations[0].value.replace("<image>\n", ""),
                     prediction=predictions[i.id].text if i.id in predictions else "(no prediction)",
                     expected=expected(i), correct=bool(outcomes[i.id]) if i.id in outcomes else None, image=i.image)
        for i in instructions
    ]


def evaluate_scienceqa(
    model: LlavaForConditionalGeneration,
    processor: LlavaProcessor,
    instructions: list[Instruction],
    problems: dict[str, Problem],
    image_root: Path | None,
    out_dir: Path,
    generation: Generation | None = None,
    rule: Rule | None = None,
) -> dict:
    """Predict curated ScienceQA instructions (image and text-only together) and score them against
    their problems, joined by id (the instruction id is the pid). Answers are read by RULE, by
    default the one the papers used for the prompt format (`answer_rules.rule_for_format`)."""
    gen = generation or Generation()
    out_dir = Path(out_dir)
    (out_dir / "plots").mkdir(parents=True, exist_ok=True)
    missing = [i.id for i in instructions if i.id not in problems]
    if missing:
        raise ValueError(f"{len(missing)} instructions have no problem to score against (first: {missing[0]})")
    formats = sorted({i.source.get("format", "?") for i in instructions})
    prompt_format = ", ".join(formats)
    chosen = [problems[i.id] for i in instructions]
    predictions = {p.id: p for p in _predict(model, processor, instructions, image_root, out_dir, gen)}
    if not current_ranks().is_main:  # under torchrun every rank answered its share; one scores and writes
        return {}
    if rule is None:
        rules = {rule_for_format(f) for f in formats}
        if len(rules) > 1:
            raise ValueError(f"prompt formats {prompt_format} are read by different answer rules: evaluate them apart")
        rule = rules.pop()
    result = score(chosen, Answers(text={pid: p.text for pid, p in predictions.items()}), rule=rule)
    result.update(model=gen.model_name, prompt_format=prompt_format, failed=sum(bool(p.error) for p in
                                                                               predictions.values()))
    (out_dir / "scores.json").write_text(json.dumps(result, indent=2))
    name = Path(gen.model_name).name or "this model"
    (out_dir / "scores.md").write_text(markdown_table(result, name))
    plot_categories(result, name, out_dir / "plots" / "categories.png")
    by_pid = problems
    rows = [[name, *(result["accuracy"][c] for c in CATEGORIES)]]
    rows += [[ref, *REFERENCE_ROWS[ref]] for ref in (*SHOWN_REFERENCES, "Random")]
    examples = example_rows(instructions, predictions, result["outcomes"],
                         lambda i: f"{LETTERS[by_pid[i.id].answer]}. {by_pid[i.id].choices[by_pid[i.id].answer]}")
    html.write_page(out_dir / "report.html", f"ScienceQA · {name} · {prompt_format}", [
        ("Accuracy per category (%)", html.table(["model", *CATEGORIES], rows, highlight=0)
         + f"<p>{result['counts']['Avg']} questions · parse failures {result['parse_failures']} · "
           f"failed items {result['failed']} · {escape(scoring_note(result))}</p>"
         + "<img class=plot src='plots/categories.png'>"),
        ("Examples", html.examples_html(html.pick_examples(examples), image_root)),
    ])
    return result


def evaluate_figures(
    model: LlavaForConditionalGeneration,
    processor: LlavaProcessor,
    instructions: list[Instruction],
    image_root: Path,
    out_dir: Path,
    labels: list[str],
    generation: Generation | None = None,
) -> dict:
    """Predict curated figure instructions; score figure type (with a confusion matrix) and captions.

    A type question is answered by a label, so its answer gets only the tokens of the longest label
    and a few more (`label_budget`); an answer that runs past that is no label anyway. Descriptions
    get `max_new_tokens`. Each prediction records the budget it had."""
    gen = generation or Generation()
    out_dir = Path(out_dir)
    (out_dir / "plots").mkdir(parents=True, exist_ok=True)
    is_type = [i.source.get("task") == "figure_type" for i in instructions]
    budget = label_budget(processor.tokenizer, labels, gen.max_new_tokens)
    for wanted, tokens in ((True, budget), (False, gen.max_new_tokens)):
        chosen = [i for i, typed in zip(instructions, is_type) if typed == wanted]
        if chosen:
            _predict(model, processor, chosen, image_root, out_dir, replace(gen, max_new_tokens=tokens))
    if not current_ranks().is_main:
        return {}
    predictions = {p.id: p for p in read_jsonl(out_dir / "predictions.jsonl", Prediction)}
    result = score_figures(instructions, predictions.values(), labels)
    result["model"] = gen.model_name
    (out_dir / "scores.json").write_text(json.dumps(result, indent=2))
    (out_dir / "scores.md").write_text(figures_markdown(result, Path(gen.model_name).name))
    sections = []
    types = result["figure_types"]
    if types["count"]:
        plot_confusion(types, out_dir / "plots" / "confusion.png")
        sections.append(("Figure type", f"<p>accuracy {types['accuracy']}% on {types['count']} figures, chance "
                                        f"{types['chance']}%</p><img class=plot src='plots/confusion.png'>"))
    metric_rows = [[part, r["bleu4"], r["rougeL"], r["cider"], r["count"], r["missing"]]
                   for part, r in (("caption part", result["captions"]), ("whole CTOM text", result["full_text"]))]
    sections.append(("Captions", html.table(["compared", "BLEU-4", "ROUGE-L", "CIDEr", "items", "empty"],
                                            metric_rows)))
    examples = example_rows(instructions, predictions, types["outcomes"], lambda i: i.conversations[-1].value)
    sections.append(("Examples", html.examples_html(html.pick_examples(examples), image_root)))
    html.write_page(out_dir / "report.html", f"Figures · {Path(gen.model_name).name}", sections)
    return result


def label_budget(tokenizer, labels: list[str], most: int, margin: int = 4) -> int:
    """New tokens a figure-type answer may take: the longest label's, plus MARGIN, at most MOST."""
    longest = max((len(tokenizer(label, add_special_tokens=False)["input_ids"]) for label in labels), default=most)
    return min(most, longest + margin)


def figures_markdown(result: dict, name: str) -> str:
    types, caps, full = result["figure_types"], result["captions"], result["full_text"]
    return "\n".join([
        "| model | figure type (%) | chance | BLEU-4 | ROUGE-L | CIDEr | whole-text BLEU-4 |",
        "|---|---|---|---|---|---|---|",
        f"| {name} | {types['accuracy']} | {types['chance']} | {caps['bleu4']} | {caps['rougeL']} | {caps['cider']} "
        f"| {full['bleu4']} |",
        "",
        f"Figure-type items {types['count']}; caption items {caps['count']} (empty answers {caps['missing']}); "
        f"failed items {result['failed']}. Caption metrics compare the caption part of the answer with the caption.",
        "",
    ])
