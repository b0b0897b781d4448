"""Which parameters of a Llava model train in a stage, and at which learning rate."""

from __future__ import annotations

import torch
from transformers import LlavaForConditionalGeneration

from scitune.config import MODULES, StageConfig


def module_of(parameter_name: str) -> str:
    """'model.language_model.layers.0…' / 'lm_head.weight' → 'language_model', etc."""
    for module in MODULES:
        if f".{module}." in f".{parameter_name}":
            return module
    if f".{parameter_name}".find(".lm_head.") >= 0:  # also under peft's wrappers
        return "language_model"
    raise ValueError(f"parameter {parameter_name} belongs to none of {MODULES}")


def apply_freezing(model: LlavaForConditionalGeneration, stage: StageConfig) -> dict[str, int]:
    """Set requires_grad per module (LoRA modules stay frozen: their adapters train); returns
    trainable parameter counts per module."""
    counts = dict.fromkeys(MODULES, 0)
    for name, parameter in model.named_parameters():
        module = module_of(name)
        parameter.requires_grad = stage.train[module] == "full"
        if parameter.requires_grad:
            counts[module] += parameter.numel()
    if not any(counts.values()) and "lora" not in stage.train.values():
        raise ValueError(f"stage '{stage.name}' would train no parameter")
    return counts


def optimizer_for(model: LlavaForConditionalGeneration, stage: StageConfig) -> torch.optim.AdamW:
    """AdamW with one parameter group per trained module, each at its own learning rate."""
    groups: dict[str, list[torch.nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            groups.setdefault(module_of(name), []).append(parameter)
    return torch.optim.AdamW(
        [
            {"params": params, "lr": stage.module_learning_rates.get(module, stage.learning_rate), "name": module}
            for module, params in groups.items()
        ],
        lr=stage.learning_rate,
        weight_decay=stage.weight_decay,
    )
