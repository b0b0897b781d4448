"""Two processes (torchrun, gloo on CPU) train one stage together and end with the same weights;
FSDP2 shards, trains and saves a full checkpoint on CPU (torch's fully_shard; accelerate shards only
on GPUs, see fsdp_cpu_worker.py); the shipped accelerate configs parse as accelerate reads them."""

import importlib.util
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
    port = _free_port()
    _run("-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}", "-m", "scitune.cli", "train",
         TINY, "--output-dir", out, "--stage", "stage1", "--set", "stages.0.batch_size=4")
    summary = json.loads((out / "stage1" / "training_summary.json").read_text())
    assert summary["world_size"] == 2 and summary["ranks_agree"] is True and summary["distributed"] == "ddp"
    assert summary["samples_per_step"] == 4 * 2, "a step is batch_size samples on each of the 2 processes"
    assert (out / "stage1" / "model" / "model.safetensors").is_file() and (out / ".steps" / "train_stage1.json").is_file()
    # The run goes on from there in one process.
    done = _run("-m", "scitune.cli", "run", TINY, "--output-dir", out, "--set", "stages.0.batch_size=4")
    assert "✓ train:stage1 (done earlier, skipped)" in done and (out / "report.md").is_file()


def test_train_refuses_when_earlier_steps_are_missing(tmp_path):
    result = subprocess.run([sys.executable, "-m", "scitune.cli", "train", str(TINY), "--output-dir",
                             str(tmp_path / "run"), "--stage", "stage2"], capture_output=True, text=True, cwd=ROOT)
    message = " ".join(result.stdout.split())  # rich wraps long lines at the terminal's width
    assert result.returncode == 2 and "not done under these settings yet" in message and "--until" in message


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_fsdp2_shards_trains_and_gathers_a_loadable_checkpoint_on_cpu(tmp_path):
    _run("-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={_free_port()}",
         ROOT / "tests" / "e2e" / "fsdp_cpu_worker.py", tmp_path)
    # Read from the ranks' files: their printed lines can interleave on one line of the shared pipe.
    ranks = sorted((json.loads(path.read_text()) for path in tmp_path.glob("rank*.json")), key=lambda r: r["rank"])
    assert [r["rank"] for r in ranks] == [0, 1]
    assert all(r["sharded_parameters"] > 0 for r in ranks), "the parameters are DTensor shards"
    assert ranks[0]["digest"] == ranks[1]["digest"] and all(r["ranks_agree"] is True for r in ranks), \
        "whole tensors are compared, not each rank's shard"
    assert ranks[0]["gathered_equals_unsharded_step"], "the sharded step is the unsharded step"
    assert ranks[0]["loaded_logits_match"], "the gathered checkpoint loads with plain transformers"
    assert all(r["diverged_ranks_agree"] is False for r in ranks), "replicas that differ are caught"


def _accelerate_env(config: Path) -> dict:
    """The environment `accelerate launch --config_file CONFIG` gives each process."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_multi_gpu_env

    args = launch_command_parser().parse_args(["--config_file", str(config), "--num_processes", "2", "-m",
                                               "scitune.cli", "train"])
    return prepare_multi_gpu_env(_validate_launch_command(args)[0])


def test_shipped_fsdp_config_is_fsdp2_with_sharded_checkpoints(monkeypatch):
    from accelerate.utils import FullyShardedDataParallelPlugin

    for key, value in _accelerate_env(ROOT / "configs" / "accelerate_fsdp.yaml").items():
        monkeypatch.setenv(key, value)
    plugin = FullyShardedDataParallelPlugin()  # what Trainer's Accelerator builds from that environment
    assert plugin.fsdp_version == 2 and plugin.reshard_after_forward is True
    assert "SHARDED_STATE_DICT" in str(plugin.state_dict_type), "intermediate checkpoints stay sharded"
    assert plugin.cpu_ram_efficient_loading is False, "every rank loads the weights a resumed stage restores"


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "configs").glob("accelerate_*.yaml")))
def test_shipped_accelerate_configs(name):
    config = yaml.safe_load((ROOT / "configs" / name).read_text())
    assert config["distributed_type"] in ("FSDP", "DEEPSPEED") and config["mixed_precision"] == "bf16"
    if config["distributed_type"] == "DEEPSPEED":
        ds = json.loads((ROOT / config["deepspeed_config"]["deepspeed_config_file"]).read_text())
        assert ds["zero_optimization"]["stage"] in (2, 3)
        assert "optimizer" not in ds, "the optimizer is SciTune's (per-module groups), built by the Trainer"
    else:
        assert config["fsdp_config"]["fsdp_version"] == 2


@pytest.mark.skipif(importlib.util.find_spec("deepspeed") is None,
                    reason="DeepSpeed is an optional extra (pip install 'scitune[deepspeed]')")
def test_deepspeed_configs_load_as_accelerate_plugins(monkeypatch):
    from accelerate.utils import DeepSpeedPlugin

    for name in ("zero2", "zero3"):
        plugin = DeepSpeedPlugin(hf_ds_config=str(ROOT / "configs" / f"deepspeed_{name}.json"))
        assert plugin.zero_stage == int(name[-1])
