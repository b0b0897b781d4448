"""Prediction across processes: `torchrun --nproc_per_node=2 -m scitune.cli predict|evaluate …` (gloo
on CPU) writes the same predictions file as one process, byte for byte; shards left by a run that
died are merged, not predicted again."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from scitune.contracts import Instruction, Prediction, read_jsonl, write_jsonl
from scitune.curate.scienceqa import problem_instructions
from scitune.evaluate.predict import predict
from scitune.evaluate.shards import shard_folder, shard_path
from scitune.sources.demo import generate_corpus

ROOT = Path(__file__).resolve().parents[2]


def _varied(built):
    """Random weights large enough that answers depend on the prompt and the image (a fresh tiny LM
    says the same token to everything, which would hide an item answered under the wrong prompt)."""
    model, processor = built
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
    return model, processor


@pytest.fixture(scope="module")
def setup(tiny_model_config, tmp_path_factory):
    from scitune.model.build import build_llava

    tmp = tmp_path_factory.mktemp("shards")
    model, processor = _varied(build_llava(tiny_model_config, seed=7))
    model.save_pretrained(tmp / "ckpt")
    processor.save_pretrained(tmp / "ckpt")
    records, problems = generate_corpus(tmp / "corpus", 3, 0.3, 64, seed=2)
    write_jsonl(tmp / "questions.jsonl", list(problem_instructions(problems[:21], "QCM-LEPA")))
    write_jsonl(tmp / "figures.jsonl", records[:7])
    return tmp, model, processor


def _launch(tmp: Path, processes: int, *args: object) -> str:
    if processes == 1:
        command = [sys.executable, "-m", "scitune.cli"]
    else:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        command = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}",
                   f"--master_port={port}", "-m", "scitune.cli"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([*command, *map(str, args)], capture_output=True, text=True, cwd=ROOT, timeout=600,
                            env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


@pytest.mark.slow
def test_two_processes_write_what_one_writes(setup):
    tmp = setup[0]
    common = ["--model", tmp / "ckpt", "--image-root", tmp / "corpus", "--max-new-tokens", "8", "--batch-size", "4"]
    for processes in (1, 2):
        out = _launch(tmp, processes, "predict", "--data", tmp / "questions.jsonl", "--output",
                      tmp / f"p{processes}.jsonl", *common)
        assert ("rank 0 of 2" in out) == (processes == 2), out
        _launch(tmp, processes, "evaluate", "figures", "--data", tmp / "figures.jsonl", "--output-dir",
                tmp / f"figures{processes}", *common)
    one, two = (tmp / "p1.jsonl").read_bytes(), (tmp / "p2.jsonl").read_bytes()
    assert len(one.splitlines()) == 21 and one == two
    assert len({p.text for p in read_jsonl(tmp / "p1.jsonl", Prediction)}) > 1, "answers must differ to test anything"
    assert not shard_folder(tmp / "p2.jsonl").exists()
    figures_one = (tmp / "figures1" / "predictions.jsonl").read_bytes()
    assert len(figures_one.splitlines()) == 14 and figures_one == (tmp / "figures2" / "predictions.jsonl").read_bytes()
    scores = [json.loads((tmp / f"figures{n}" / "scores.json").read_text()) for n in (1, 2)]
    assert scores[0] == scores[1]


def test_shards_of_a_dead_run_are_merged_not_predicted_again(setup, tmp_path):
    tmp, model, processor = setup
    items = list(read_jsonl(tmp / "questions.jsonl", Instruction))[:9]
    out = tmp_path / "pred.jsonl"
    fresh = tmp_path / "fresh.jsonl"
    predict(model, processor, items, tmp / "corpus", fresh, "", "tiny", 6, 4)
    lines = {json.loads(line)["id"]: line for line in fresh.read_text().splitlines()}
    # A two-process run died: rank 0 had written two answers and half of a third, rank 1 one answer.
    # Their texts are marked, so an answer predicted again instead of merged would show.
    marked = {item_id: json.dumps({**json.loads(lines[item_id]), "text": f"kept {item_id}"})
              for item_id in (items[0].id, items[2].id, items[5].id)}
    shard_path(out, 0).parent.mkdir(parents=True)
    shard_path(out, 0).write_text(marked[items[2].id] + "\n" + marked[items[0].id] + "\n" + lines[items[4].id][:30])
    shard_path(out, 1).write_text(marked[items[5].id] + "\n")
    predict(model, processor, items, tmp / "corpus", out, "", "tiny", 6, 4)
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(p["id"] for p in got) == sorted(i.id for i in items), "every item once"
    assert {p["id"]: p["text"] for p in got if p["text"].startswith("kept")} == {
        item_id: f"kept {item_id}" for item_id in marked}
    # The merged answers come first, in the order one process writes (prompt length, then position);
    # the torn one was predicted again, like every item no shard had.
    order = [json.loads(line)["id"] for line in fresh.read_text().splitlines()]
    assert [p["id"] for p in got[:3]] == [i for i in order if i in marked]
    regenerated = {p["id"]: p["text"] for p in got[3:]}
    assert regenerated[items[4].id] == json.loads(lines[items[4].id])["text"]
    assert not shard_folder(out).exists()
