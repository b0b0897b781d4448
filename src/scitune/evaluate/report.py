"""report.md with the numbers of a run and PNG plots (loss curves, accuracy per stage)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure

from scitune.evaluate.scienceqa import CATEGORIES, REFERENCE_ROWS

SHOWN_REFERENCES = ("Human", "LLaVA-13B", "LLaMA-SciTune-13B")


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def plot_losses(histories: dict[str, list[dict]], path: Path) -> None:
    fig = Figure(figsize=(6, 3.2), dpi=110)
    axes = fig.subplots(1, len(histories), squeeze=False)[0]
    for ax, (stage, history) in zip(axes, histories.items()):
        points = [(h["step"], h["loss"]) for h in history if "loss" in h]
        if points:
            steps, losses = zip(*points)
            ax.plot(steps, losses, color="tab:blue", alpha=0.35, lw=1, label="logged")
            # Length-grouped batches alternate long and short samples; a running mean shows the trend.
            window = max(1, len(losses) // 10)
            smooth = [sum(losses[max(0, i - window + 1): i + 1]) / len(losses[max(0, i - window + 1): i + 1])
                      for i in range(len(losses))]
            ax.plot(steps, smooth, color="tab:blue", lw=2, label=f"running mean ({window})")
            ax.legend(fontsize=7)
        ax.set_title(f"{stage} training loss", fontsize=9)
        ax.set_xlabel("optimizer step", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path)


def plot_categories(result: dict, name: str, path: Path) -> None:
    """ScienceQA accuracy per category: this model's bars beside the published reference rows."""
    fig = Figure(figsize=(8, 3.4), dpi=110)
    ax = fig.subplots()
    rows = {name: [result["accuracy"][c] for c in CATEGORIES]}
    rows.update({ref: list(REFERENCE_ROWS[ref]) for ref in SHOWN_REFERENCES})
    width = 0.8 / len(rows)
    for number, (label, values) in enumerate(rows.items()):
        xs = [x + (number - (len(rows) - 1) / 2) * width for x in range(len(CATEGORIES))]
        ax.bar(xs, [v or 0 for v in values], width, label=label, alpha=1.0 if number == 0 else 0.55)
    ax.set_xticks(range(len(CATEGORIES)), CATEGORIES, fontsize=8)
    ax.set_ylabel("accuracy (%)", fontsize=8)
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7, ncol=len(rows), loc="lower right")
    fig.tight_layout()
    fig.savefig(path)


def plot_confusion(figure_types: dict, path: Path) -> None:
    """Confusion matrix of the figure-type answers: true label per row, answer per column."""
    truths = list(figure_types["confusion"])
    columns = [*figure_types["labels"], "(other)"]
    counts = [[figure_types["confusion"][t].get(c, 0) for c in columns] for t in truths]
    fig = Figure(figsize=(1.4 + 0.75 * len(columns), 1.2 + 0.5 * len(truths)), dpi=110)
    ax = fig.subplots()
    ax.imshow(counts, cmap="Blues")
    for row, values in enumerate(counts):
        peak = max(max(values), 1)
        for column, value in enumerate(values):
            if value:
                ax.text(column, row, str(value), ha="center", va="center", fontsize=8,
                        color="white" if value > peak / 2 else "black")
    ax.set_xticks(range(len(columns)), columns, rotation=40, ha="right", fontsize=7)
    ax.set_yticks(range(len(truths)), truths, fontsize=7)
    ax.set_xlabel("answer", fontsize=8)
    ax.set_ylabel("true type", fontsize=8)
    ax.set_title(f"figure type: {figure_types['accuracy']}% (chance {figure_types['chance']}%)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)


def _figure_accuracy(result: dict) -> float | None:
    return result["figures"]["figure_types"]["accuracy"] if "figures" in result else None


def _question_accuracy(result: dict) -> float | None:
    return result["questions"]["accuracy"]["Avg"] if "questions" in result else None


def plot_accuracy(evaluations: dict[str, dict], path: Path) -> None:
    """Figure-type and question accuracy per checkpoint (whichever the run evaluates)."""
    names = list(evaluations)
    series = [(label, [get(evaluations[n]) for n in names]) for label, get in
              (("figure-type accuracy", _figure_accuracy), ("question accuracy (Avg)", _question_accuracy))]
    series = [(label, values) for label, values in series if any(v is not None for v in values)]
    fig = Figure(figsize=(6, 3.2), dpi=110)
    ax = fig.subplots()
    width = 0.76 / max(1, len(series))
    xs = range(len(names))
    for number, (label, values) in enumerate(series):
        ax.bar([x + (number - (len(series) - 1) / 2) * width for x in xs], [v or 0 for v in values], width,
               label=label)
    first = next(iter(evaluations.values()))
    if "figures" in first and first["figures"]["figure_types"].get("chance"):
        ax.axhline(first["figures"]["figure_types"]["chance"], color="gray", linestyle=":", label="figure-type chance")
    ax.set_xticks(list(xs), [f"after {n}" if n != "base" else "before training" for n in names], fontsize=8)
    ax.set_ylabel("accuracy (%)", fontsize=8)
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)


def write_report(run_dir: Path, title: str, evaluations: dict[str, dict], histories: dict[str, list[dict]],
                 timings: dict[str, float], notes: list[str]) -> Path:
    """Write RUN_DIR/report.md and its plots; returns the report path. An evaluation holds
    'figures' and/or 'questions' results, as the run's corpus has them."""
    run_dir = Path(run_dir)
    plots = run_dir / "plots"
    plots.mkdir(exist_ok=True)
    plot_losses(histories, plots / "loss.png")
    plot_accuracy(evaluations, plots / "accuracy.png")
    first = next(iter(evaluations.values()))
    has_figures, has_questions = "figures" in first, "questions" in first
    header = ["model"]
    if has_figures:
        header += ["figure type (%)", "caption BLEU-4", "ROUGE-L", "CIDEr"]
    if has_questions:
        header += [*CATEGORIES, "parse failures"]
    lines = [f"# {title}", "", *notes, "", "## Accuracy per stage", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, result in evaluations.items():
        cells = ["before training" if name == "base" else f"after {name}"]
        if has_figures:
            cells += [_fmt(result["figures"]["figure_types"]["accuracy"])]
            cells += [_fmt(result["figures"]["captions"][m]) for m in ("bleu4", "rougeL", "cider")]
        if has_questions:
            acc = result["questions"]["accuracy"]
            cells += [_fmt(acc[c]) for c in CATEGORIES] + [str(result["questions"]["parse_failures"])]
        lines.append("| " + " | ".join(cells) + " |")
    facts = []
    if has_questions:
        counts = first["questions"]["counts"]
        facts.append("Questions per category: " + ", ".join(f"{c} {counts[c]}" for c in CATEGORIES) +
                     " (n/a: no question of that category, or its metadata is missing in this data).")
    if has_figures:
        types = first["figures"]["figure_types"]
        facts.append(f"Figure-type items: {types['count']}, chance {types['chance']}%. Caption metrics compare the "
                     "caption part of the model's description with the figure's caption (BLEU-4 sacrebleu, ROUGE-L "
                     "F1, CIDEr-D, ×100).")
    pages = [f"[{n} {part}](eval/{n}/{part}/report.html)" for n in evaluations
             for part in ("figures", "questions") if part in evaluations[n]]
    lines += ["", " ".join(facts), "", "Pages with examples: " + ", ".join(pages) + ".", "",
              "![accuracy per stage](plots/accuracy.png)", "", "## Training", "", "![loss curves](plots/loss.png)", ""]
    for stage, history in histories.items():
        summary = next((h for h in reversed(history) if "train_runtime" in h), {})
        losses = [h["loss"] for h in history if "loss" in h]
        if losses:
            lines.append(f"- {stage}: loss {losses[0]:.3f} → {losses[-1]:.3f} over {len(losses)} logged points, "
                         f"{summary.get('train_runtime', float('nan')):.0f} s")
    if has_figures:
        best = max(evaluations, key=lambda n: _figure_accuracy(evaluations[n]) or 0)
        shown = "before training" if best == "base" else f"after {best}"
        lines += ["", f"## Figure-type confusion {shown} (the best figure-type score)", "",
                  "| true \\ predicted | counts |", "|---|---|"]
        for label, row in evaluations[best]["figures"]["figure_types"]["confusion"].items():
            lines.append(f"| {label} | " + ", ".join(f"{k}: {v}" for k, v in sorted(row.items())) + " |")
    lines += ["", "## Time per step", "", "| step | seconds |", "|---|---|"]
    lines += [f"| {step} | {seconds:.1f} |" for step, seconds in timings.items()]
    lines += [f"| total | {sum(timings.values()):.1f} |", ""]
    report = run_dir / "report.md"
    report.write_text("\n".join(lines), encoding="utf-8")
    (run_dir / "results.json").write_text(json.dumps(evaluations, indent=2))
    return report
