"""The one placement rule for inference (model/device.py): inputs → device and dtype, on any machine,
and the loader that applies it."""

import pytest
import torch

from scitune.model.device import Hardware, choose_placement, parameter_count

GIB = 2**30
H100 = Hardware(gpu_memory=(80 * GIB,), gpu_bf16=True)
V100 = Hardware(gpu_memory=(32 * GIB,), gpu_bf16=False)
T4 = Hardware(gpu_memory=(16 * GIB,), gpu_bf16=False)
EIGHT_A100 = Hardware(gpu_memory=(40 * GIB,) * 8, gpu_bf16=True)
CPU_BF16 = Hardware(cpu_bf16=True)
CPU_PLAIN = Hardware(cpu_bf16=False)
B7, B13 = 7_000_000_000, 13_000_000_000


@pytest.mark.parametrize("hardware, parameters, device, dtype, expected", [
    (H100, B7, "auto", "auto", ("cuda", torch.bfloat16, None)),  # bf16 where the GPU computes it
    (V100, B7, "auto", "auto", ("cuda", torch.float16, None)),  # fp16 on a GPU without bf16
    (CPU_PLAIN, B7, "auto", "auto", ("cpu", torch.float32, None)),  # no GPU: the CPU, fp32
    (CPU_BF16, B7, "auto", "auto", ("cpu", torch.float32, None)),  # fp32: answers independent of the batch
    (CPU_BF16, B7, "auto", "bf16", ("cpu", torch.bfloat16, None)),  # bf16 on request
    (H100, B7, "cpu", "auto", ("cpu", torch.float32, None)),  # --device wins; the CPU's own dtype rule
    (CPU_PLAIN, B7, "auto", "bfloat16", ("cpu", torch.bfloat16, None)),  # --dtype wins
    (H100, B7, "cuda", "fp16", ("cuda", torch.float16, None)),
    (T4, B13, "auto", "auto", ("cuda", torch.float16, "auto")),  # 26 GB > 80% of 16 GB: spread
    (EIGHT_A100, B13, "auto", "auto", ("cuda", torch.bfloat16, None)),  # 26 GB fit one 40 GB card
    (EIGHT_A100, B13, "auto", "float32", ("cuda", torch.float32, "auto")),  # 52 GB do not
    (EIGHT_A100, B7, "cuda:3", "auto", ("cuda:3", torch.bfloat16, None)),
])
def test_placement_decision(hardware, parameters, device, dtype, expected):
    placement = choose_placement(parameters, device, dtype, hardware)
    assert (placement.device, placement.dtype, placement.device_map) == expected
    assert placement.reason, "the choice says why"


def test_the_reason_says_what_a_cpu_choice_costs():
    assert "faster on this CPU" in choose_placement(B7, "auto", "auto", CPU_BF16).reason
    assert "emulates bf16" in choose_placement(B7, "cpu", "bf16", CPU_PLAIN).reason


def test_spreading_over_gpus_says_when_the_cpu_takes_the_rest():
    placement = choose_placement(40_000_000_000, "auto", "bf16", V100)  # 80 GB on one 32 GB card
    assert placement.device_map == "auto" and "and the CPU" in placement.reason
    assert placement.load_kwargs() == {"dtype": torch.bfloat16, "device_map": "auto"}
    assert choose_placement(B7, "auto", "auto", H100).load_kwargs() == {"dtype": torch.bfloat16, "device_map": "cuda"}


@pytest.mark.parametrize("device, dtype, message", [
    ("cuda", "auto", "no CUDA GPU is visible"),
    ("cuda:1", "auto", "no CUDA GPU is visible"),
    ("tpu", "auto", "--device must be auto, cpu, cuda or cuda:N"),
    ("cpu", "int8", "--dtype must be auto"),
])
def test_requests_the_machine_cannot_meet_are_refused(device, dtype, message):
    with pytest.raises(ValueError, match=message):
        choose_placement(B7, device, dtype, CPU_PLAIN)
    with pytest.raises(ValueError, match="only 1 CUDA GPU"):
        choose_placement(B7, "cuda:1", "auto", H100)


def test_parameter_count_reads_the_safetensors_headers(tiny_llava, tmp_path):
    model, _ = tiny_llava
    from safetensors.torch import load_file

    model.save_pretrained(tmp_path)
    stored = sum(t.numel() for t in load_file(tmp_path / "model.safetensors").values())
    assert parameter_count(tmp_path) == stored > 0.9 * sum(p.numel() for p in model.parameters())
    assert parameter_count(tmp_path / "nowhere") == 0


def test_loader_places_and_generates_on_the_cpu(tiny_llava, tmp_path):
    from scitune.model.build import load_for_inference
    from scitune.model.generate import generate_ids

    model, processor = tiny_llava
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    loaded, loaded_processor = load_for_inference(tmp_path, "cpu", "bfloat16")
    assert loaded.dtype == torch.bfloat16 and loaded.device.type == "cpu" and not loaded.training
    assert loaded.placement.describe().startswith("cpu, bfloat16")
    prompt = loaded_processor.tokenizer("Which type of figure is this?", add_special_tokens=False)["input_ids"]
    assert len(generate_ids(loaded, loaded_processor, [(prompt, None)], 3)[0]) <= 3
    auto, _ = load_for_inference(tmp_path)
    assert auto.dtype == choose_placement(1, "auto", "auto").dtype
    with pytest.raises(ValueError, match="not a Llava model"):
        (tmp_path / "other").mkdir()
        (tmp_path / "other" / "config.json").write_text('{"model_type": "llama"}')
        load_for_inference(tmp_path / "other")
