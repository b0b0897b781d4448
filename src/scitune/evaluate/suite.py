"""One path from benchmark items to the files people read, shared by MathVista, ChartQA, AI2D, MMMU, SciFIBench.

A `Benchmark` is what a benchmark module hands over: the instructions to answer, the expected answer
shown per item, and its official scorer. `run` generates the answers with the same batched, resumable
generation as every other evaluation (`scitune.evaluate.predict.predict`), optionally asks a local
model to extract the final answers (the place of the official pipelines' GPT-4 / Gemini extractors),
scores, and writes OUT_DIR/{predictions.jsonl, [extractions.jsonl,] scores.json, scores.md,
report.html, plots/}. A rerun generates only what is missing and re-scores everything.

Every scorer returns the same shape: `accuracy` (percent, 2 decimals), `correct`, `total`, `metric`,
`extractor`, `breakdowns` {family: {value: {accuracy, correct, total}}}, `outcomes` {id: 0|1},
`failed`, `missing`, `issues`, and optionally `references` {published row: accuracy}.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure
from transformers import LlavaForConditionalGeneration, LlavaProcessor

from scitune.contracts import IMAGE_PLACEHOLDER, Instruction, Prediction, read_jsonl
from scitune.evaluate import html
from scitune.evaluate.benchmarks import Generation, example_rows
from scitune.evaluate.predict import predict
from scitune.evaluate.shards import current_ranks

log = logging.getLogger(__name__)

Scorer = Callable[[dict[str, str], set[str], dict[str, str] | None], dict]
"""(generated text by id, ids whose generation failed, model-extracted answers by id or None) → result."""


@dataclass
class Benchmark:
    """A benchmark ready to run: its instructions, what each item expects, and its official scorer."""

    name: str
    title: str
    instructions: list[Instruction]
    image_root: Path
    expected: dict[str, str]
    score: Scorer
    extraction_prompt: Callable[[str, str], str] | None = None
    """(id, response) → the prompt a local model answers to extract the final answer; None when the
    benchmark's official scoring needs no extractor model."""
    primary: str | None = None
    """The breakdown family plotted on the report page."""
    notes: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    """Records of the release that could not be read, with the reason (listed in scores.json)."""

    def __post_init__(self) -> None:
        if self.rejected:
            self.notes = [f"{len(self.rejected)} records of the release could not be read (listed in scores.json "
                          "under rejected_records)", *self.notes]


def human_turn(text: str, image: str | None) -> dict:
    """The question turn: the image placeholder first when there is an image. A literal "<image>"
    in benchmark text is defused, since it would be read as a second image slot."""
    text = text.replace(IMAGE_PLACEHOLDER, "<image >")
    return {"from": "human", "value": f"{IMAGE_PLACEHOLDER}\n{text}" if image else text}


def pct(correct: int, total: int) -> float | None:
    return round(100 * correct / total, 2) if total else None


def breakdown(ids: Iterable[str], outcomes: dict[str, int], groups: Callable[[str], Iterable[str]]) -> dict:
    """{value: {accuracy, correct, total}} over IDS, each counted under every value GROUPS gives it,
    values in order of first appearance."""
    tally: dict[str, list[int]] = {}
    for item_id in ids:
        for value in groups(item_id):
            counts = tally.setdefault(str(value), [0, 0])
            counts[0] += outcomes.get(item_id, 0)
            counts[1] += 1
    return {value: {"accuracy": pct(c, t), "correct": c, "total": t} for value, (c, t) in tally.items()}


def result(benchmark: str, metric: str, extractor: str, ids: list[str], outcomes: dict[str, int],
           breakdowns: dict[str, dict], texts: dict[str, str], failed: set[str], **extra) -> dict:
    """The common result shape (see the module docstring)."""
    correct = sum(outcomes.get(i, 0) for i in ids)
    unknown = sorted(set(texts) - set(ids))
    issues = extra.pop("issues", [])
    if unknown:
        issues.append(f"{len(unknown)} predictions name ids that are not among the scored items "
                      f"(first: {', '.join(unknown[:5])})")
    return {"benchmark": benchmark, "metric": metric, "extractor": extractor, "accuracy": pct(correct, len(ids)),
            "correct": correct, "total": len(ids), "breakdowns": breakdowns,
            "missing": sum(1 for i in ids if i not in texts), "failed": len(failed & set(ids)),
            "issues": issues, **extra, "outcomes": {i: outcomes.get(i, 0) for i in ids}}


def model_extractions(model: LlavaForConditionalGeneration, processor: LlavaProcessor, prompts: dict[str, str],
                      out_path: Path, model_name: str, batch_size: int = 16, max_new_tokens: int = 24
                      ) -> dict[str, str]:
    """A local model's answers to text-only extraction PROMPTS {id: prompt}, resumable in OUT_PATH."""
    instructions = [
        Instruction(id=item_id, image=None, source={"task": "answer_extraction"}, conversations=[
            {"from": "human", "value": prompt.replace(IMAGE_PLACEHOLDER, "<image >")},
            {"from": "gpt", "value": ""}])
        for item_id, prompt in prompts.items()
    ]
    predict(model, processor, instructions, Path("."), out_path, "", model_name, max_new_tokens, batch_size)
    return {p.id: p.text for p in read_jsonl(out_path, Prediction) if p.id in prompts}


def run(benchmark: Benchmark, model: LlavaForConditionalGeneration, processor: LlavaProcessor, out_dir: Path,
        generation: Generation | None = None,
        extractor: tuple[LlavaForConditionalGeneration, LlavaProcessor, str] | None = None) -> dict:
    """Generate, (extract,) score and write every output file; returns the scores.

    EXTRACTOR (model, processor, name), when given, extracts the final answers from the responses with
    the benchmark's extraction prompt; the model may be the evaluated one.
    """
    gen = generation or Generation()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "predictions.jsonl"
    predict(model, processor, benchmark.instructions, benchmark.image_root, path, gen.system_prompt, gen.model_name,
            gen.max_new_tokens, gen.batch_size, on_batch=gen.on_batch, answer_prompter=gen.answer_prompter)
    wanted = {i.id for i in benchmark.instructions}
    predictions = {p.id: p for p in read_jsonl(path, Prediction) if p.id in wanted}
    texts = {pid: p.text for pid, p in predictions.items()}
    failed = {pid for pid, p in predictions.items() if p.error}
    extracted = None
    if extractor is not None:
        if benchmark.extraction_prompt is None:
            raise ValueError(f"{benchmark.name} scores without an extractor model; drop the extractor")
        ex_model, ex_processor, ex_name = extractor
        prompts = {pid: benchmark.extraction_prompt(pid, text) for pid, text in texts.items() if text.strip()}
        extracted = model_extractions(ex_model, ex_processor, prompts, out_dir / "extractions.jsonl", ex_name,
                                      gen.batch_size)
    if not current_ranks().is_main:  # under torchrun every rank answered its share; one scores and writes
        return {}
    scores = benchmark.score(texts, failed, extracted)
    scores["model"] = gen.model_name
    write_outputs(benchmark, scores, predictions, out_dir, Path(gen.model_name).name or "this model")
    return scores


def write_outputs(benchmark: Benchmark, scores: dict, predictions: dict[str, Prediction], out_dir: Path,
                  name: str) -> None:
    """scores.json, scores.md, report.html and the breakdown plot."""
    out_dir = Path(out_dir)
    (out_dir / "plots").mkdir(parents=True, exist_ok=True)
    scores = with_context(scores, benchmark)
    (out_dir / "scores.json").write_text(json.dumps(scores, indent=2, ensure_ascii=False), encoding="utf-8")
    (out_dir / "scores.md").write_text(markdown(scores, name, benchmark.title), encoding="utf-8")
    sections = [("Score", html.table(["model", scores["metric"] + " (%)", "correct", "total"],
                                     headline_rows(scores, name), highlight=0) + f"<p>{_footer(scores)}</p>")]
    family = benchmark.primary if benchmark.primary in scores["breakdowns"] else None
    if family and scores["breakdowns"][family]:
        plot_breakdown(scores["breakdowns"][family], family, scores["metric"], out_dir / "plots" / "breakdown.png")
        sections.append((f"By {family}", "<img class=plot src='plots/breakdown.png'>"))
    for key, rows in scores["breakdowns"].items():
        sections.append((f"Accuracy by {key}", html.table(
            [key, "accuracy (%)", "correct", "total"],
            [[value, row["accuracy"], row["correct"], row["total"]] for value, row in rows.items()])))
    examples = example_rows(benchmark.instructions, predictions, scores["outcomes"], lambda i: benchmark.expected[i.id])
    sections.append(("Examples", html.examples_html(html.pick_examples(examples), benchmark.image_root)))
    html.write_page(out_dir / "report.html", f"{benchmark.title} · {name}", sections)


def with_context(scores: dict, benchmark: Benchmark) -> dict:
    """The scores with the benchmark's notes and the records of the release that could not be read."""
    if benchmark.notes:
        scores = {**scores, "notes": benchmark.notes}
    if benchmark.rejected:
        scores = {**scores, "rejected_records": [f"{i}: {reason}" for i, reason in benchmark.rejected[:200]]}
    return scores


def headline_rows(scores: dict, name: str) -> list[list]:
    rows = [[name, scores["accuracy"], scores["correct"], scores["total"]]]
    rows += [[f"{ref} (published)", value, None, None] for ref, value in (scores.get("references") or {}).items()]
    return rows


def _footer(scores: dict) -> str:
    parts = [f"answer extraction: {scores['extractor']}", f"missing predictions {scores['missing']}",
             f"failed items {scores['failed']}"]
    for key in ("parse_failures", "random_guesses", "empty_extractions"):
        if key in scores:
            parts.append(f"{key.replace('_', ' ')} {scores[key]}")
    return " · ".join(parts)


def markdown(scores: dict, name: str, title: str) -> str:
    """The headline beside published rows, then one table per breakdown, as the papers report them."""
    def cell(value) -> str:
        return "" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)

    metric = scores["metric"]
    lines = [f"## {title}", "", f"| model | {metric} (%) | correct | total |", "|---|---|---|---|"]
    for n, row in enumerate(headline_rows(scores, name)):
        label = f"**{row[0]}**" if n == 0 else row[0]
        lines.append(f"| {label} | " + " | ".join(cell(v) for v in row[1:]) + " |")
    lines += ["", _footer(scores)]
    for note in [*scores.get("notes", []), *scores.get("issues", [])[:5]]:
        lines.append(f"- {note}")
    for key, rows in scores["breakdowns"].items():
        lines += ["", f"### by {key}", "", f"| {key} | accuracy (%) | correct | total |", "|---|---|---|---|"]
        lines += [f"| {value} | {cell(row['accuracy'])} | {row['correct']} | {row['total']} |"
                  for value, row in rows.items()]
    return "\n".join(lines) + "\n"


def plot_breakdown(rows: dict, family: str, metric: str, path: Path) -> None:
    """Horizontal bars: accuracy per value of one breakdown, with the item count on each bar."""
    names = list(rows)[::-1]
    fig = Figure(figsize=(7, 0.8 + 0.32 * len(names)), dpi=110)
    ax = fig.subplots()
    values = [rows[n]["accuracy"] or 0 for n in names]
    ax.barh(range(len(names)), values, color="tab:blue")
    for y, n in enumerate(names):
        ax.text(min(values[y] + 1, 95), y, f"{rows[n]['correct']}/{rows[n]['total']}", va="center", fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_xlim(0, 100)
    ax.set_xlabel(f"{metric} (%)", fontsize=8)
    ax.set_title(f"by {family}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)


def load_texts(path: Path) -> tuple[dict[str, str], list[str]]:
    """Generated texts by id from our predictions JSONL ({id, text}) or a LLaVA answer file
    ({question_id, text}); unreadable lines and duplicates are reported, not fatal."""
    from scitune.evaluate.scienceqa import load_answers

    answers = load_answers(path)
    return answers.text, answers.issues
