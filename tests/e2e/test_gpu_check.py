"""benchmarks/gpu_check.sh --dry-run: the GPU check's steps at tiny shapes on the CPU, so that a
session lent a GPU only has to press the button (issue #15)."""

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_gpu_check_dry_run_runs_every_step_and_prints_one_table(tmp_path):
    result = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run"], cwd=ROOT,
                            capture_output=True, text=True, timeout=1500, env={**os.environ, "OUT": str(tmp_path)})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    statuses = {p.name.split(".")[0]: json.loads(p.read_text())["status"] for p in tmp_path.glob("*.status.json")}
    assert statuses == dict.fromkeys(["inference", "train", "fsdp_prepare", "fsdp_train", "fsdp_generate"], 0)
    table = (tmp_path / "gpu_check.md").read_text()
    assert table.count("\n| ") == 7 and "FAILED" not in table and "not run" not in table, table
    inference = json.loads((tmp_path / "inference.json").read_text())
    assert [row["batch_size"] for row in inference["rows"]] == [1, 4] and inference["placement"].startswith("cpu")
    train = json.loads((tmp_path / "train.json").read_text())
    assert train["rows"][0]["path"].startswith("SciTune (packed") and train["rows"][0]["padding"] < 0.2
    summary = json.loads((tmp_path / "fsdp_summary.json").read_text())
    assert summary["samples_per_step"] == 8 and summary["packing"] is True
    predictions = [json.loads(line) for line in (tmp_path / "fsdp_predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == 8 and not any(p["error"] for p in predictions)
