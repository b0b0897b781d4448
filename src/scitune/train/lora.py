"""LoRA (and QLoRA) on the modules a stage sets to 'lora', through peft.

Adapters go on the linear layers named in `lora.target_modules` inside those modules; modules the
stage trains fully are peft's `modules_to_save`, so they are saved (and resumed) with the adapters.
At the end of the stage the adapters are merged, and the checkpoint stays a plain Llava folder;
the adapter itself is kept beside it for users who want it separately.
"""

from __future__ import annotations

import importlib.util

import torch
from peft import LoraConfig, PeftModel, get_peft_model

from scitune.config import StageConfig
from scitune.model.families import family
from scitune.train.freeze import module_of


def lora_targets(model: torch.nn.Module, stage: StageConfig) -> list[str]:
    """Full names of the linear layers that get adapters in this stage."""
    modules = {m for m, mode in stage.train.items() if mode == "lora"}
    wanted = set(stage.lora.target_modules)
    return [name for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and name.rsplit(".", 1)[-1] in wanted
            and module_of(name + ".weight", model.config.model_type) in modules]


def check_qlora(stage: StageConfig) -> None:
    """QLoRA's 4-bit base needs CUDA and bitsandbytes: say so before anything loads."""
    if not stage.qlora:
        return
    missing = [what for what, ok in (("a CUDA GPU", torch.cuda.is_available()),
                                     ("bitsandbytes (pip install bitsandbytes)",
                                      importlib.util.find_spec("bitsandbytes") is not None)) if not ok]
    if missing:
        raise ValueError(f"stage '{stage.name}': qlora needs {' and '.join(missing)}; set qlora: false to train "
                         "LoRA on the full-precision base")


def apply_lora(model: torch.nn.Module, stage: StageConfig) -> PeftModel:
    """Wrap MODEL with adapters for this stage; fails naming the stage when no layer matches."""
    targets = lora_targets(model, stage)
    if not targets:
        modules = [m for m, mode in stage.train.items() if mode == "lora"]
        raise ValueError(f"stage '{stage.name}': lora.target_modules {stage.lora.target_modules} match no linear "
                         f"layer in {modules}")
    # Modules the stage trains fully are saved whole with the adapters (their family's module names).
    fam = family(model.config.model_type)
    save = _whole_modules(model, [name for module, mode in stage.train.items() if mode == "full"
                                  for name in fam.modules_to_save(module)])
    config = LoraConfig(r=stage.lora.r, lora_alpha=stage.lora.alpha, lora_dropout=stage.lora.dropout,
                        target_modules=targets, modules_to_save=save)
    if stage.qlora:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=stage.gradient_checkpointing)
    return get_peft_model(model, config)


def _whole_modules(model: torch.nn.Module, names: list[str]) -> list[str] | None:
    """NAMES for peft's modules_to_save, a list of blocks (Qwen2-VL's `visual.blocks`) replaced by its
    blocks: peft wraps each saved module, and a wrapped list can no longer be iterated by the model."""
    found = []
    for name in names:
        lists = [full for full, module in model.named_modules() if (full == name or full.endswith("." + name))
                 and isinstance(module, (torch.nn.ModuleList, torch.nn.ModuleDict))]
        if lists:
            found += [f"{full}.{child}" for full in lists for child, _ in model.get_submodule(full).named_children()]
        else:
            found.append(name)
    return found or None
