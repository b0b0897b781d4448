"""The real CLI on tiny random models: demo source → curate → evaluate → stage 1 → stage 2 → report."""

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
    for path in ["recipe.yaml", "corpus/demo/figures.jsonl", "corpus/demo/problems.jsonl", "curate/figures/train.jsonl",
                 "curate/figures/manifest.json", "curate/figures/quality.md", "curate/questions/test.jsonl",
                 "curate/questions/problems_test.jsonl", "curate/questions/manifest.json",
                 "base/model/model.safetensors", "stage1/model/model.safetensors",
                 "stage2/model/recipe.yaml", "stage2/model/data_manifest.json", "eval/stage2/scores.json",
                 "eval/base/recipe.yaml", "report.md", "plots/loss.png", "plots/accuracy.png", "eval/stage2/figures/report.html",
                 "eval/stage2/figures/plots/confusion.png", "eval/stage2/questions/plots/categories.png"]:
        assert (out / path).is_file(), path
    report = (out / "report.md").read_text()
    assert "| before training |" in report and "| after stage2 |" in report and "![loss curves]" in report
    # Evaluation scores the curated test files as they are: every held-out question and figure, once.
    manifest = json.loads((out / "curate" / "questions" / "manifest.json").read_text())
    held_out = manifest["files"]["test.jsonl"]["count"]
    figures = json.loads((out / "curate" / "figures" / "manifest.json").read_text())
    test_figures = json.loads((out / "curate" / "figures" / "quality.json").read_text())["kept_per_split"]["test"]
    assert manifest["image_root"] == str((out / "corpus" / "demo").resolve()) and figures["labels"][0] == "graph plot"
    scores = json.loads((out / "eval" / "stage2" / "scores.json").read_text())
    assert scores["questions"]["counts"]["Avg"] == held_out > 0
    assert scores["figures"]["figure_types"]["count"] == test_figures > 0, "one type question per held-out figure"
    assert scores["figures"]["captions"]["count"] == test_figures and scores["figures"]["captions"]["bleu4"] is not None
    assert scores["questions"]["rule"] == "llava-lepa", "LEPA answers are read as LLaVA/SciTune read them"
    predictions = (out / "eval" / "stage2" / "questions" / "predictions.jsonl").read_text().splitlines()
    assert len(predictions) == held_out and len({json.loads(line)["id"] for line in predictions}) == held_out
    page = (out / "eval" / "stage2" / "questions" / "report.html").read_text()
    assert "LLaMA-SciTune-13B" in page and page.count("data:image/png;base64,") >= 1

    # An ablation reads in one table: the run (its last stage) against the evaluation before training.
    compared = _run("compare", str(out / "eval" / "base"), str(out))
    assert "questions.accuracy.Avg" in compared.stdout and "figures.figure_types.accuracy" in compared.stdout
    assert f"Items scored in both: {held_out + test_figures}" in compared.stdout

    again = _run("run", str(TINY), "--output-dir", str(out))
    assert again.stdout.count("done earlier, skipped") == 10

    # The trained checkpoint answers through `scitune predict`, resumably; a curated folder names
    # its own image root (manifest.json), so none has to be given.
    args = ["predict", "--model", str(out / "stage2" / "model"), "--data", str(out / "curate" / "questions"),
            "--output", str(tmp_path / "p.jsonl"), "--limit", "5", "--max-new-tokens", "4"]
    assert "5 new predictions" in _run(*args).stdout
    assert "0 new predictions (5 already there, 0 failed)" in _run(*args).stdout
    assert len((tmp_path / "p.jsonl").read_text().splitlines()) == 5
    refused = _run("predict", "--model", str(out / "corpus"), "--data", str(out / "curate" / "questions" / "test.jsonl"),
                   "--output", str(tmp_path / "x.jsonl"), check=False)
    assert refused.returncode == 2 and "not a model checkpoint" in refused.stdout


def test_killed_run_resumes_from_the_last_finished_step(tmp_path):
    out = tmp_path / "run"
    process = subprocess.Popen([*SCITUNE, "run", str(TINY), "--output-dir", str(out)], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker = out / ".steps" / "evaluate_base.json"

    def finished() -> bool:
        try:
            return json.loads(marker.read_text())["done"]
        except (OSError, ValueError, KeyError):
            return False

    deadline = time.time() + 300
    while not finished() and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert finished()
    resumed = _run("run", str(TINY), "--output-dir", str(out))
    assert "✓ curate:figures (done earlier, skipped)" in resumed.stdout
    assert "✓ evaluate:base (done earlier, skipped)" in resumed.stdout
    assert (out / "report.md").is_file()


def test_a_rerun_with_other_settings_redoes_that_step_and_every_later_one(tmp_path):
    """A changed stage-2 learning rate: stage 2, its evaluation and the report are redone (the message
    names the field); everything before is reused; --on-change refuse leaves the folder as it is."""
    out = tmp_path / "run"
    _run("run", str(TINY), "--output-dir", str(out), "--until", "train:stage2")
    first_stage1 = (out / "stage1" / "model" / "model.safetensors").stat().st_mtime_ns
    refused = _run("run", str(TINY), "--output-dir", str(out), "--set", "stages.1.learning_rate=5e-4",
                   "--on-change", "refuse", check=False)
    assert refused.returncode == 2 and "stage.learning_rate" in refused.stdout
    assert (out / "stage2" / "model").is_dir(), "refusing changes nothing"
    again = _run("run", str(TINY), "--output-dir", str(out), "--set", "stages.1.learning_rate=5e-4")
    assert "train:stage2 will be redone: stage.learning_rate: 0.001 → 0.0005" in " ".join(again.stdout.split())
    for reused in ("corpus", "curate:figures", "curate:questions", "model:base", "evaluate:base", "train:stage1",
                   "evaluate:stage1"):
        assert f"✓ {reused} (done earlier, skipped)" in again.stdout, reused
    assert "✓ train:stage2 (done earlier" not in again.stdout
    assert (out / "stage1" / "model" / "model.safetensors").stat().st_mtime_ns == first_stage1
    saved = (out / "recipe.yaml").read_text()
    assert "learning_rate: 0.0005" in saved, "recipe.yaml describes the artifacts beside it"


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
