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


def plot_accuracy(evaluations: dict[str, dict], path: Path) -> None:
    names = list(evaluations)
    figure_acc = [evaluations[n]["figure_types"]["accuracy"] or 0 for n in names]
    question_acc = [evaluations[n]["questions"]["accuracy"]["Avg"] or 0 for n in names]
    fig = Figure(figsize=(6, 3.2), dpi=110)
    ax = fig.subplots()
    width = 0.38
    xs = range(len(names))
    ax.bar([x - width / 2 for x in xs], figure_acc, width, label="figure-type accuracy")
    ax.bar([x + width / 2 for x in xs], question_acc, width, label="question accuracy (Avg)")
    chance = next(iter(evaluations.values()))["figure_types"].get("chance")
    if chance:
        ax.axhline(chance, color="gray", linestyle=":", label="figure-type chance")
    ax.set_xticks(list(xs), [f"after {n}" if n != "base" else "before training" for n in names], fontsize=8)
    ax.set_ylabel("accuracy (%)", fontsize=8)
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)


def write_report(run_dir: Path, title: str, evaluations: dict[str, dict], histories: dict[str, list[dict]],
                 timings: dict[str, float], notes: list[str]) -> Path:
    """Write RUN_DIR/report.md and its plots; returns the report path."""
    run_dir = Path(run_dir)
    plots = run_dir / "plots"
    plots.mkdir(exist_ok=True)
    plot_losses(histories, plots / "loss.png")
    plot_accuracy(evaluations, plots / "accuracy.png")
    lines = [f"# {title}", ""]
    lines += notes + [""]
    lines += ["## Accuracy per stage", "",
              "| model | figure type (%) | caption BLEU-4 | ROUGE-L | CIDEr | " + " | ".join(CATEGORIES)
              + " | parse failures |",
              "|---|---|---|---|---|" + "---|" * len(CATEGORIES) + "---|"]
    for name, result in evaluations.items():
        acc = result["questions"]["accuracy"]
        lines.append(
            f"| {'before training' if name == 'base' else 'after ' + name} | "
            f"{_fmt(result['figure_types']['accuracy'])} | "
            + " | ".join(_fmt(result["captions"][m]) for m in ("bleu4", "rougeL", "cider")) + " | "
            + " | ".join(_fmt(acc[c]) for c in CATEGORIES)
            + f" | {result['questions']['parse_failures']} |"
        )
    first = next(iter(evaluations.values()))
    counts = first["questions"]["counts"]
    lines += ["", "Questions per category: " + ", ".join(f"{c} {counts[c]}" for c in CATEGORIES)
              + f". Figure-type items: {first['figure_types']['count']}, chance {first['figure_types']['chance']}%."
              + " n/a: no question of that category in this data. Caption metrics compare the caption part of"
              " the model's description with the figure's caption (BLEU-4 sacrebleu, ROUGE-L F1, CIDEr-D, ×100).",
              "", "Pages with examples: " + ", ".join(
                  f"[{n} figures](eval/{n}/figures/report.html), [{n} questions](eval/{n}/questions/report.html)"
                  for n in evaluations) + ".", "",
              "![accuracy per stage](plots/accuracy.png)", "", "## Training", "",
              "![loss curves](plots/loss.png)", ""]
    for stage, history in histories.items():
        summary = next((h for h in reversed(history) if "train_runtime" in h), {})
        losses = [h["loss"] for h in history if "loss" in h]
        if losses:
            lines.append(f"- {stage}: loss {losses[0]:.3f} → {losses[-1]:.3f} over {len(losses)} logged points, "
                         f"{summary.get('train_runtime', float('nan')):.0f} s")
    best = max(evaluations, key=lambda n: evaluations[n]["figure_types"]["accuracy"] or 0)
    shown = "before training" if best == "base" else f"after {best}"
    lines += ["", f"## Figure-type confusion {shown} (the best figure-type score)", "",
              "| true \\ predicted | counts |", "|---|---|"]
    for label, row in evaluations[best]["figure_types"]["confusion"].items():
        lines.append(f"| {label} | " + ", ".join(f"{k}: {v}" for k, v in sorted(row.items())) + " |")
    lines += ["", "## Time per step", "", "| step | seconds |", "|---|---|"]
    lines += [f"| {step} | {seconds:.1f} |" for step, seconds in timings.items()]
    lines += [f"| total | {sum(timings.values()):.1f} |", ""]
    report = run_dir / "report.md"
    report.write_text("\n".join(lines), encoding="utf-8")
    (run_dir / "results.json").write_text(json.dumps(evaluations, indent=2))
    return report
