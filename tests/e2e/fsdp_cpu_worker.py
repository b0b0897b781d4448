"""One rank of the CPU FSDP2 check (started by tests/e2e/test_distributed.py under torchrun, gloo).

accelerate 1.15 enables FSDP only for GPU-like distributed types (MULTI_GPU, NPU, XPU, HPU…; a CPU
launch is MULTI_CPU and its FSDP plugin is ignored, DDP runs instead), so `scitune train` under
`accelerate launch --config_file configs/accelerate_fsdp.yaml` cannot shard on CPU. torch's FSDP2
(`fully_shard`) does run on CPU with gloo, and it is what accelerate applies for `fsdp_version: 2`:
this worker shards a tiny Llava the same way (each decoder and encoder layer, then the whole
model), trains one step with SciTune's parameter groups, and checks the parts SciTune adds on top:
the optimizer over sharded parameters, whole-tensor rank agreement, and the full checkpoint
gathered on rank 0 (as accelerate's `get_state_dict` gathers it) that loads and gives the logits of
the same step taken without sharding. Writes rank{N}.json in the output folder (and prints it).
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from PIL import Image
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
from torch.distributed.fsdp import fully_shard

from scitune.config import ModelConfig, StageConfig, VisionConfig
from scitune.model.build import build_llava, load_llava
from scitune.train.freeze import apply_freezing, optimizer_for
from scitune.train.stage import ranks_agree, whole_weights_digest


def main(out: Path) -> None:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    config = ModelConfig(language_model="tiny", vision=VisionConfig(image_size=32, patch_size=16, hidden_size=32,
                                                                    num_hidden_layers=1, num_attention_heads=2))
    model, processor = build_llava(config, seed=0)
    stage = StageConfig(name="s", data="questions", learning_rate=1e-2, weight_decay=0.1,
                        train={"vision_tower": "frozen", "multi_modal_projector": "full", "language_model": "full"})
    apply_freezing(model, stage)
    reference = copy.deepcopy(model)  # the same step without sharding
    for layer in [*model.model.language_model.layers, *model.model.vision_tower.encoder.layers]:
        fully_shard(layer)
    fully_shard(model)
    inputs = dict(processor(text="<image>\nWhich type of figure is this? bar chart", return_tensors="pt",
                            images=Image.new("RGB", (32, 32), "white")))
    inputs["labels"] = inputs["input_ids"].masked_fill(inputs["input_ids"] == model.config.image_token_id, -100)
    for net in (model, reference):  # every rank takes the same batch: the averaged gradient is that batch's
        optimizer = optimizer_for(net, stage)
        net(**inputs).loss.backward()
        optimizer.step()
    sharded = sum(isinstance(p, torch.distributed.tensor.DTensor) for p in model.parameters())
    digest = whole_weights_digest(model)
    agree = ranks_agree(model)
    full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    result = {"rank": rank, "sharded_parameters": sharded, "digest": digest, "ranks_agree": agree}
    if rank == 0:
        expected = reference.state_dict()
        result["gathered_equals_unsharded_step"] = all(torch.allclose(full[k], expected[k], atol=1e-6) for k in expected)
        # What stage.save_full_model does under FSDP2: the sharded model writes the gathered weights.
        model.save_pretrained(out / "model", state_dict=full, safe_serialization=True)
        processor.save_pretrained(out / "model")
        loaded, _ = load_llava(out / "model")
        loaded.eval()
        reference.eval()
        plain = {k: v for k, v in inputs.items() if k != "labels"}
        with torch.no_grad():
            result["loaded_logits_match"] = torch.allclose(loaded(**plain).logits, reference(**plain).logits, atol=1e-5)
    # Replicated weights that differ (what DDP must never end with) are caught.
    diverged = copy.deepcopy(reference)
    if rank == 1:
        with torch.no_grad():
            next(p for p in diverged.parameters() if p.requires_grad).add_(1e-3)
    result["diverged_ranks_agree"] = ranks_agree(diverged)
    # A file per rank: two ranks printing to one pipe at the same moment can share a line.
    (out / f"rank{rank}.json").write_text(json.dumps(result))
    print(json.dumps(result), flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
