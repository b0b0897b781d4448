"""report.md with the numbers of a run and PNG plots (loss curves, accuracy per stage)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure

from scitune.evaluate.scienceqa import CATEGORIES


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
              "| model | figure type (%) | " + " | ".join(CATEGORIES) + " | parse failures |",
              "|---|---|" + "---|" * len(CATEGORIES) + "---|"]
    for name, result in evaluations.items():
        acc = result["questions"]["accuracy"]
        lines.append(
            f"| {'before training' if name == 'base' else 'after ' + name} | "
            f"{_fmt(result['figure_types']['accuracy'])} | "
            + " | ".join(_fmt(acc[c]) for c in CATEGORIES)
            + f" | {result['questions']['parse_failures']} |"
        )
    first = next(iter(evaluations.values()))
    counts = first["questions"]["counts"]
    lines += ["", "Questions per category: " + ", ".join(f"{c} {counts[c]}" for c in CATEGORIES)
              + f". Figure-type items: {first['figure_types']['count']}, chance {first['figure_types']['chance']}%."
              + " n/a: no question of that category in this data.", "",
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
