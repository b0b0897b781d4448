"""ScienceQA on the embedded model: which stage-2 settings make SmolLM2-135M learn from the real
problems at hand, chosen on val, then scored on test once.

The problems at hand (`../shared/data/scienceqa`, see its README): 1,041 train and 371 val problems
of the official release (the 50 + 50 of the sample with lecture and solution), LLaVA's converted
test file (all 4,241 test questions) and 300 test images; no train or val image. Every
configuration below is `recipes/scienceqa-embedded.yaml` with the corpus pointed at those files
and its `--set` overrides, and with `curate.questions.test_split: val`: the pipeline's evaluation
step then scores VAL (its 180 text-only questions: no val image is at hand, so val image
questions are rejected), and no configuration is scored on test while choosing. `--test NAME`
scores the chosen configuration and the untuned model once on the 2,224 text-only test questions
and the 300 whose image is at hand, beside random and always-A.

    python benchmarks/scienceqa_embedded.py                       # every configuration, on val
    python benchmarks/scienceqa_embedded.py --configs baseline,lr5e-4
    python benchmarks/scienceqa_embedded.py --test lr5e-4         # the chosen one, on test, once

Each configuration takes 25-60 min on 2 shared CPU cores (a test evaluation as long). Runs are
niced and single-threaded by default: on a loaded machine two OpenMP threads per process were 17x
slower than one (100 s against 6 s per step of 8 samples), waiting on each other at every barrier.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

from scitune.contracts import Problem, read_jsonl
from scitune.sources.scienceqa import load_problems

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "scienceqa-embedded.yaml"

# Every setting that differs between configurations is named in each one, so a row reads alone.
CONFIGS: dict[str, list[str]] = {
    # the first try (QCM-A, full, 1e-4, 3 epochs), trained on train only
    "baseline": ["curate.questions.missing_images=reject", "stages.0.learning_rate=1e-4", "stages.0.epochs=3"],
    # the answer letter is 1 of the 9 supervised tokens of 'Answer: The answer is X.<eos>': a mean
    # over them scales its gradient by 1/9, so a higher rate
    "lr5e-4": ["curate.questions.missing_images=reject", "stages.0.learning_rate=5e-4", "stages.0.epochs=3"],
    # image questions trained without their missing image: twice the problems
    "img-as-text": ["curate.questions.missing_images=text_only", "stages.0.learning_rate=1e-4",
                    "stages.0.epochs=3"],
}


def shared_scienceqa() -> Path:
    return Path(os.environ.get("SCITUNE_TEST_DATA", ROOT.parent / "shared" / "data")) / "scienceqa"


def scitune(*args: str, log: Path) -> float:
    """Run the CLI niced and single-threaded (unless OMP_NUM_THREADS is set); returns seconds."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    start = time.perf_counter()
    with log.open("w") as handle:
        done = subprocess.run(["nice", "-n", "10", sys.executable, "-m", "scitune.cli", *args], cwd=ROOT, env=env,
                              stdout=handle, stderr=subprocess.STDOUT)
    if done.returncode:
        raise SystemExit(f"scitune {args[0]} failed (exit {done.returncode}); see {log}")
    return time.perf_counter() - start


def experiment_recipe(data: Path, out: Path) -> Path:
    """The shipped recipe on the problems at hand, its evaluation step scoring val."""
    recipe = yaml.safe_load(RECIPE.read_text())
    recipe["corpus"]["problems"] = {"paths": [str(data / "problems_sample.json"), str(data / "problems_partial.json")],
                                    "splits": str(data / "pid_splits.json"), "images": str(data / "images")}
    recipe["curate"]["questions"].update(val_split=None, test_split="val")
    path = out / "experiment.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def breakdown(outcomes: dict[str, int], problems: dict[str, Problem]) -> dict:
    """Accuracy overall and by number of options (chance 50 / 33 / 25)."""
    right, count = Counter(), Counter()
    for pid, ok in outcomes.items():
        n = len(problems[pid].choices)
        right[n] += ok
        count[n] += 1
    total = sum(count.values())
    return {"n": total, "acc": round(100 * sum(right.values()) / total, 2),
            "by_options": {n: round(100 * right[n] / count[n], 1) for n in sorted(count)}}


def run_config(name: str, recipe: Path, out: Path, zero_shot: Path | None) -> dict:
    """Run one configuration; ZERO_SHOT: the untuned model's val predictions of an earlier
    configuration (same base model, same questions), which its evaluation resumes from."""
    run = out / name
    if zero_shot is not None and zero_shot.is_file():
        (run / "eval" / "base" / "questions").mkdir(parents=True, exist_ok=True)
        target = run / "eval" / "base" / "questions" / "predictions.jsonl"
        if not target.exists():
            target.write_bytes(zero_shot.read_bytes())
    seconds = scitune("run", str(recipe), "--output-dir", str(run), *[a for o in CONFIGS[name] for a in ("--set", o)],
                      log=out / f"{name}.log")
    stage = yaml.safe_load(recipe.read_text())["stages"][0]["name"]
    problems = {p.pid: p for p in read_jsonl(run / "curate" / "questions" / "problems_test.jsonl", Problem)}
    row = {"config": name, "seconds": round(seconds)}
    for label, folder in (("zero-shot", "base"), ("tuned", stage)):
        scores = json.loads((run / "eval" / folder / "questions" / "scores.json").read_text())
        row[label] = breakdown(scores["outcomes"], problems)
    manifest = json.loads((run / "curate" / "questions" / "manifest.json").read_text())
    row["train_problems"] = manifest["files"]["train.jsonl"]["count"]
    row["train_fit"] = train_fit(run, stage, recipe, out / f"{name}-train-fit")
    return row


def train_fit(run: Path, stage: str, recipe: Path, target: Path, count: int = 150) -> dict:
    """Accuracy on the first COUNT text-only problems it trained on: tells a model that cannot fit
    its data (underfit) from one that fits it and does not generalise (memorised)."""
    trained = [p for p in read_jsonl(run / "curate" / "questions" / "problems_train.jsonl", Problem) if not p.image]
    pids = target.with_suffix(".pids")
    pids.parent.mkdir(parents=True, exist_ok=True)
    pids.write_text("\n".join(p.pid for p in trained[:count]) + "\n")
    settings = yaml.safe_load(recipe.read_text())
    source = settings["corpus"]["problems"]
    scitune("evaluate", "scienceqa", "--model", str(run / stage / "model"),
            *[a for path in source["paths"] for a in ("--problems", path)], "--splits", source["splits"],
            "--split", "train", "--subset", str(pids), "--max-new-tokens",
            str(settings["evaluate"]["max_new_tokens_questions"]), "--output-dir", str(target),
            log=target.with_suffix(".log"))
    outcomes = json.loads((target / "scores.json").read_text())["outcomes"]
    return breakdown(outcomes, {p.pid: p for p in trained})


def test_once(name: str, data: Path, out: Path) -> list[dict]:
    """The chosen configuration and the untuned model on the text-only test questions and those
    whose image is at hand (LLaVA's test file: its image paths are relative to images/test)."""
    llava = data / "llava_test_CQM-A.json"
    problems = load_problems(llava).problems
    at_hand = {p.name for p in (data / "images" / "test").iterdir()}
    text_only = {pid for pid, p in problems.items() if not p.image}
    with_image = {pid for pid, p in problems.items() if p.image and pid in at_hand}
    (out / "test").mkdir(exist_ok=True)
    pids = out / "test_pids.txt"
    pids.write_text("\n".join(sorted(text_only | with_image)) + "\n")
    recipe = yaml.safe_load((out / name / "recipe.yaml").read_text())
    rows = []
    for label, model in (("zero-shot", out / name / "base" / "model"),
                         (name, out / name / recipe["stages"][0]["name"] / "model")):
        target = out / "test" / label
        scitune("evaluate", "scienceqa", "--model", str(model), "--problems", str(llava), "--image-root",
                str(data / "images" / "test"), "--subset", str(pids), "--format",
                recipe["curate"]["questions"]["format"], "--max-new-tokens",
                str(recipe["evaluate"]["max_new_tokens_questions"]), "--output-dir", str(target),
                log=out / "test" / f"{label}.log")
        outcomes = json.loads((target / "scores.json").read_text())["outcomes"]
        rows.append({"model": label, **{part: breakdown({p: outcomes[p] for p in chosen}, problems)
                                        for part, chosen in (("text-only", text_only), ("image", with_image))}})
    for label, pick in (("random", None), ("always A", 0)):
        row = {"model": label}
        for part, chosen in (("text-only", text_only), ("image", with_image)):
            expected = [1 / len(problems[p].choices) if pick is None else float(problems[p].answer == pick)
                        for p in chosen]
            row[part] = {"n": len(chosen), "acc": round(100 * sum(expected) / len(chosen), 2), "by_options": {}}
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=shared_scienceqa())
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "scienceqa-embedded")
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated names of CONFIGS")
    parser.add_argument("--test", help="score this configuration (already run) on test, once")
    args = parser.parse_args()
    if not (args.data / "pid_splits.json").is_file():
        raise SystemExit(f"ScienceQA files not found in {args.data} (set SCITUNE_TEST_DATA)")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.test:
        print("| model | text-only (n) | 2 / 3 / 4 options | with image (n) |\n|---|---|---|---|")
        for row in test_once(args.test, args.data, args.out):
            text, image = row["text-only"], row["image"]
            options = " / ".join(str(v) for v in text["by_options"].values()) or "-"
            print(f"| {row['model']} | {text['acc']} ({text['n']}) | {options} | {image['acc']} ({image['n']}) |")
        return
    recipe = experiment_recipe(args.data, args.out)
    print("| config | train problems | val zero-shot | val tuned (n) | 2 / 3 / 4 options | train fit | seconds |\n"
          "|---|---|---|---|---|---|---|")
    zero_shot = None
    for name in args.configs.split(","):
        row = run_config(name, recipe, args.out, zero_shot)
        zero_shot = args.out / name / "eval" / "base" / "questions" / "predictions.jsonl"
        tuned = row["tuned"]
        print(f"| {name} | {row['train_problems']} | {row['zero-shot']['acc']} | {tuned['acc']} ({tuned['n']}) | "
              f"{' / '.join(str(v) for v in tuned['by_options'].values())} | {row['train_fit']['acc']} | {row['seconds']} |",
              flush=True)


if __name__ == "__main__":
    main()
