"""Where and in which precision a checkpoint runs for inference: one decision for every path
(predict, evaluate, serve, chat, the benchmarks).

`choose_placement` is a pure function of the request (`--device`, `--dtype`), the model's size and
the hardware (`Hardware`, detected once by `detect_hardware`), so the rule is tested on any machine:
- device `auto`: the first CUDA GPU when one is visible, else the CPU;
- dtype `auto`: on a GPU bf16 where it computes bf16 (Ampere and newer), fp16 otherwise; on a CPU
  fp32. bf16 on a CPU is one `--dtype bfloat16` away (1.5-2.5x faster generation where the CPU
  computes it natively, AVX512-BF16 / AMX), but not the default: greedy answers then depend on the
  batch size (measured: 18 of 24 answers of a tiny model the same at batch 1 and 16), which fp32
  keeps exact, and CPU runs are the ones tests and quick looks compare;
- a model whose weights (at that dtype) do not fit one GPU is spread with `device_map="auto"` over
  every visible GPU (and the CPU beyond them).
"""

from __future__ import annotations

import json
import logging
import struct
from dataclasses import dataclass
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32, "fp32": torch.float32,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float16": torch.float16, "fp16": torch.float16,
}
"""Names `--dtype` accepts (besides 'auto')."""

FIT_SHARE = 0.8
"""Share of a GPU's memory the weights may take; the rest is left to the KV cache and activations."""


@dataclass(frozen=True)
class Hardware:
    """What the decision needs to know about the machine."""

    gpu_memory: tuple[int, ...] = ()
    """Total bytes of each visible CUDA GPU (empty: none)."""
    gpu_bf16: bool = False
    """The GPUs compute bf16 natively (compute capability 8.0 and newer)."""
    cpu_bf16: bool = False
    """The CPU computes bf16 natively (oneDNN reports AVX512-BF16 or AMX)."""


def detect_hardware() -> Hardware:
    cuda = torch.cuda.is_available()
    memory = tuple(torch.cuda.get_device_properties(i).total_memory for i in range(torch.cuda.device_count())) \
        if cuda else ()
    cpu_bf16 = torch.backends.mkldnn.is_available() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return Hardware(gpu_memory=memory, gpu_bf16=cuda and torch.cuda.is_bf16_supported(), cpu_bf16=cpu_bf16)


@dataclass(frozen=True)
class Placement:
    """The outcome: a device, a dtype, and whether the model is spread over several devices."""

    device: str
    """'cpu', 'cuda' or 'cuda:N' (with `device_map='auto'`: where the inputs go, the first GPU)."""
    dtype: torch.dtype
    device_map: str | None = None
    """'auto' when the weights do not fit one GPU; None: the whole model on `device`."""
    reason: str = ""

    def load_kwargs(self) -> dict:
        """Arguments of `from_pretrained` that realise this placement."""
        return {"dtype": self.dtype, "device_map": self.device_map or self.device}

    def describe(self) -> str:
        where = f"{self.device} (device_map={self.device_map})" if self.device_map else self.device
        return f"{where}, {str(self.dtype).removeprefix('torch.')}" + (f" ({self.reason})" if self.reason else "")


def _device_index(device: str) -> int:
    return int(device.split(":", 1)[1]) if ":" in device else 0


def choose_placement(parameters: int, device: str = "auto", dtype: str = "auto",
                     hardware: Hardware | None = None) -> Placement:
    """Device and dtype for a model of PARAMETERS weights, from the request and HARDWARE (detected
    when not given). Raises ValueError for a request the machine cannot meet (a GPU it does not have,
    an unknown name)."""
    hardware = hardware or detect_hardware()
    device = (device or "auto").lower()
    if device == "auto":
        device = "cuda" if hardware.gpu_memory else "cpu"
    if device.startswith("cuda"):
        if not hardware.gpu_memory:
            raise ValueError(f"--device {device}: no CUDA GPU is visible on this machine (use --device cpu)")
        if _device_index(device) >= len(hardware.gpu_memory):
            raise ValueError(f"--device {device}: only {len(hardware.gpu_memory)} CUDA GPU(s) are visible")
    elif device != "cpu":
        raise ValueError(f"--device must be auto, cpu, cuda or cuda:N, not '{device}'")
    gpu = device.startswith("cuda")
    name = (dtype or "auto").lower()
    reasons = []
    if name == "auto":
        if gpu:
            chosen = torch.bfloat16 if hardware.gpu_bf16 else torch.float16
            reasons.append("the GPU computes bf16" if hardware.gpu_bf16 else "this GPU has no native bf16")
        else:
            chosen = torch.float32
            reasons.append("answers independent of the batch size" + ("; --dtype bfloat16 is faster on this CPU"
                                                                        if hardware.cpu_bf16 else ""))
    elif name in DTYPES:
        chosen = DTYPES[name]
        reasons.append("asked for")
        if not gpu and chosen == torch.bfloat16 and not hardware.cpu_bf16:
            reasons.append("this CPU emulates bf16: slower than fp32")
        if not gpu and chosen == torch.float16:
            reasons.append("fp16 on a CPU is slow and imprecise")
    else:
        raise ValueError(f"--dtype must be auto, {', '.join(DTYPES)}, not '{dtype}'")
    device_map = None
    if gpu:
        weights = parameters * torch.finfo(chosen).bits // 8
        room = hardware.gpu_memory[_device_index(device)] * FIT_SHARE
        if weights > room:
            device_map = "auto"
            reasons.append(f"{weights / 2**30:.1f} GiB of weights exceed {FIT_SHARE:.0%} of one GPU: spread over "
                           f"{len(hardware.gpu_memory)} GPU(s)" + (" and the CPU" if weights > room * len(
                               hardware.gpu_memory) else ""))
    return Placement(device, chosen, device_map, "; ".join(reasons))


def parameter_count(folder: Path) -> int:
    """Weights in a checkpoint folder, read from the safetensors headers alone (nothing is loaded);
    0 when the folder has no safetensors files."""
    total = 0
    for path in sorted(Path(folder).glob("*.safetensors")):
        with path.open("rb") as handle:
            (size,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(size))
        for key, entry in header.items():
            if key != "__metadata__":
                count = 1
                for dim in entry["shape"]:
                    count *= dim
                total += count
    return total
