"""The real CLI on tiny random models: corpus → curate → evaluate → stage 1 → stage 2 → report."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "recipes" / "tiny.yaml"
SCITUNE = [sys.executable, "-m", "scitune.cli"]

pytestmark = pytest.mark.slow


def _run(*args, check=True):
    result = subprocess.run([*SCITUNE, *args], capture_output=True, text=True, cwd=ROOT, timeout=600)
    if check and result.returncode:
        raise AssertionError(f"scitune {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def test_tiny_pipeline_end_to_end_then_rerun_skips_everything(tmp_path):
    out = tmp_path / "run"
    first = _run("run", str(TINY), "--output-dir", str(out))
    assert "Report:" in first.stdout
    for path in ["recipe.yaml", "corpus/figures.jsonl", "corpus/problems.jsonl", "curate/figures_train.jsonl",
                 "curate/questions_test.jsonl", "base/model/model.safetensors", "stage1/model/model.safetensors",
                 "stage2/model/recipe.yaml", "stage2/model/data_manifest.json", "eval/stage2/scores.json",
                 "eval/base/recipe.yaml", "curate/recipe.yaml",
                 "report.md", "plots/loss.png", "plots/accuracy.png", "eval/stage2/figures/report.html",
                 "eval/stage2/figures/plots/confusion.png", "eval/stage2/questions/plots/categories.png"]:
        assert (out / path).is_file(), path
    report = (out / "report.md").read_text()
    assert "| before training |" in report and "| after stage2 |" in report and "![loss curves]" in report
    scores = json.loads((out / "eval" / "stage2" / "scores.json").read_text())
    assert scores["questions"]["counts"]["Avg"] == 18 and scores["figure_types"]["count"] == 6
    assert scores["captions"]["count"] == 6 and scores["captions"]["bleu4"] is not None
    predictions = (out / "eval" / "stage2" / "questions" / "predictions.jsonl").read_text().splitlines()
    assert len(predictions) == 18 and len({json.loads(line)["id"] for line in predictions}) == 18
    page = (out / "eval" / "stage2" / "questions" / "report.html").read_text()
    assert "LLaMA-SciTune-13B" in page and page.count("data:image/png;base64,") >= 1

    # An ablation reads in one table: the run (its last stage) against the evaluation before training.
    compared = _run("compare", str(out / "eval" / "base"), str(out))
    assert "questions.accuracy.Avg" in compared.stdout and "figure_types.accuracy" in compared.stdout
    assert "Items scored in both: 24" in compared.stdout

    again = _run("run", str(TINY), "--output-dir", str(out))
    assert again.stdout.count("done earlier, skipped") == 9

    # The trained checkpoint answers through `scitune predict`, resumably.
    args = ["predict", "--model", str(out / "stage2" / "model"), "--data", str(out / "curate" / "questions_test.jsonl"),
            "--image-root", str(out / "corpus"), "--output", str(tmp_path / "p.jsonl"), "--limit", "5",
            "--max-new-tokens", "4"]
    assert "5 new predictions" in _run(*args).stdout
    assert "0 new predictions (5 already there, 0 failed)" in _run(*args).stdout
    assert len((tmp_path / "p.jsonl").read_text().splitlines()) == 5
    refused = _run("predict", "--model", str(out / "corpus"), "--data", str(out / "curate" / "questions_test.jsonl"),
                   "--output", str(tmp_path / "x.jsonl"), check=False)
    assert refused.returncode == 2 and "not a model checkpoint" in refused.stdout


def test_killed_run_resumes_from_the_last_finished_step(tmp_path):
    out = tmp_path / "run"
    process = subprocess.Popen([*SCITUNE, "run", str(TINY), "--output-dir", str(out)], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker = out / ".steps" / "evaluate_base.json"
    deadline = time.time() + 300
    while not marker.is_file() and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert marker.is_file()
    resumed = _run("run", str(TINY), "--output-dir", str(out))
    assert "✓ curate (done earlier, skipped)" in resumed.stdout
    assert "✓ evaluate:base (done earlier, skipped)" in resumed.stdout
    assert (out / "report.md").is_file()


def test_bad_recipe_fails_before_work_naming_the_field(tmp_path):
    result = _run("run", str(TINY), "--output-dir", str(tmp_path / "x"), "--set", "stages.1.epochs=-1", check=False)
    assert result.returncode == 2
    assert "stages.1.epochs" in result.stdout
    assert not (tmp_path / "x").exists(), "nothing may be written before the recipe validates"


@pytest.mark.parametrize("command", [[], ["run"], ["quickstart"], ["validate"], ["predict"], ["curate", "scienceqa"],
                                     ["score", "scienceqa"], ["evaluate", "scienceqa"], ["evaluate", "figures"],
                                     ["compare"], ["curate", "figures"], ["curate", "latex"], ["curate", "pdf"],
                                     ["ocr"], ["serve"], ["chat"], ["train"]])
def test_every_command_has_help(command):
    result = _run(*command, "--help")
    assert "Usage" in result.stdout and len(result.stdout) > 200


def test_killed_mid_stage_resumes_with_the_same_loss_curve(tmp_path):
    """kill -9 inside stage 1, after a Trainer checkpoint: the rerun continues from it with the same
    optimizer, scheduler, data order and RNG state, so its losses are those of an uninterrupted run."""
    settings = ["--set", "stages.0.batch_size=2", "--set", "stages.0.epochs=2", "--set", "stages.0.logging_steps=1",
                "--set", "stages.0.save_steps=4", "--set", "stages.0.save_total_limit=3"]
    whole = tmp_path / "whole"
    _run("run", str(TINY), "--output-dir", str(whole), *settings)
    out = tmp_path / "killed"
    process = subprocess.Popen([*SCITUNE, "run", str(TINY), "--output-dir", str(out), *settings], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = out / "stage1" / "trainer" / "checkpoint-8"
    deadline = time.time() + 300
    while not (checkpoint / "trainer_state.json").is_file() and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert checkpoint.is_dir() and not (out / "stage1" / "model").exists(), "killed inside stage 1"
    _run("run", str(TINY), "--output-dir", str(out), *settings)

    def losses(run):
        history = json.loads((run / "stage1" / "log_history.json").read_text())
        return [(h["step"], h["loss"]) for h in history if "loss" in h]

    resumed, uninterrupted = losses(out), losses(whole)
    assert [s for s, _ in resumed] == [s for s, _ in uninterrupted] and len(resumed) > 12
    assert all(abs(a - b) < 1e-4 for (_, a), (_, b) in zip(resumed, uninterrupted)), (resumed, uninterrupted)
