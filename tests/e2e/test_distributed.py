"""Two processes (torchrun, gloo on CPU) train one stage together and end with the same weights;
the shipped accelerate configs are well-formed."""

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "recipes" / "tiny.yaml"
pytestmark = pytest.mark.slow


def _run(*args):
    result = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_torchrun_two_processes_train_a_stage_and_agree(tmp_path):
    out = tmp_path / "run"
    _run("-m", "scitune.cli", "run", TINY, "--output-dir", out, "--until", "model:base")
    assert not (out / "stage1").exists()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _run("-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}", "-m", "scitune.cli", "train",
         TINY, "--output-dir", out, "--stage", "stage1", "--set", "stages.0.batch_size=4")
    summary = json.loads((out / "stage1" / "training_summary.json").read_text())
    assert summary["world_size"] == 2 and summary["ranks_agree"] is True
    assert (out / "stage1" / "model" / "model.safetensors").is_file() and (out / ".steps" / "train_stage1.json").is_file()
    # The run goes on from there in one process.
    done = _run("-m", "scitune.cli", "run", TINY, "--output-dir", out, "--set", "stages.0.batch_size=4")
    assert "✓ train:stage1 (done earlier, skipped)" in done and (out / "report.md").is_file()


def test_train_refuses_when_earlier_steps_are_missing(tmp_path):
    result = subprocess.run([sys.executable, "-m", "scitune.cli", "train", str(TINY), "--output-dir",
                             str(tmp_path / "run"), "--stage", "stage2"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2 and "not done yet" in result.stdout and "--until" in result.stdout


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "configs").glob("accelerate_*.yaml")))
def test_shipped_accelerate_configs(name):
    config = yaml.safe_load((ROOT / "configs" / name).read_text())
    assert config["distributed_type"] in ("FSDP", "DEEPSPEED") and config["mixed_precision"] == "bf16"
    if config["distributed_type"] == "DEEPSPEED":
        ds = json.loads((ROOT / config["deepspeed_config"]["deepspeed_config_file"]).read_text())
        assert ds["zero_optimization"]["stage"] in (2, 3)
    else:
        assert config["fsdp_config"]["fsdp_use_orig_params"] is True, "frozen and trained parameters share units"
