"""--device / --dtype on the inference commands: the one placement rule, a clear refusal of what the
machine cannot do (issue #15)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from scitune.contracts import write_jsonl
from scitune.curate.scienceqa import problem_instructions
from scitune.sources.demo import generate_corpus

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _scitune(*args):
    return subprocess.run([sys.executable, "-m", "scitune.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)


@pytest.fixture(scope="module")
def checkpoint(tiny_llava, tmp_path_factory):
    folder = tmp_path_factory.mktemp("placement")
    model, processor = tiny_llava
    model.save_pretrained(folder / "ckpt")
    processor.save_pretrained(folder / "ckpt")
    _, problems = generate_corpus(folder / "corpus", 2, 0.3, 64, seed=2)
    write_jsonl(folder / "items.jsonl", problem_instructions(problems[:3], "QCM-A"))
    return folder


def test_predict_runs_in_the_asked_dtype(checkpoint, tmp_path):
    result = _scitune("predict", "--model", checkpoint / "ckpt", "--data", checkpoint / "items.jsonl", "--image-root",
                      checkpoint / "corpus", "--output", tmp_path / "p.jsonl", "--max-new-tokens", "3",
                      "--device", "cpu", "--dtype", "bfloat16")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "cpu, bfloat16 (asked for)" in " ".join(result.stdout.split())
    assert len([json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]) == 3


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for machines without a GPU")
@pytest.mark.parametrize("command", ["predict", "chat"])
def test_a_gpu_the_machine_lacks_is_refused(checkpoint, tmp_path, command):
    args = ["--data", checkpoint / "items.jsonl", "--image-root", checkpoint / "corpus", "--output",
            tmp_path / "p.jsonl"] if command == "predict" else []
    result = _scitune(command, "--model", checkpoint / "ckpt", *args, "--device", "cuda")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "no CUDA GPU is visible" in " ".join(result.stdout.split())
    assert not (tmp_path / "p.jsonl").exists()
