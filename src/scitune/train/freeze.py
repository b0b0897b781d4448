"""Which parameters of a model train in a stage, and at which learning rate.

A stage names three roles (vision_tower, multi_modal_projector, language_model); which parameters
play each is the model family's table in `scitune.model.families` (Llava's module names, Qwen2-VL's
`visual` / `visual.merger`, Idefics3's `vision_model` / `connector` / `text_model`, …).
"""

from __future__ import annotations

import torch
from transformers import LlavaForConditionalGeneration
from transformers.trainer_pt_utils import get_parameter_names

from scitune.config import MODULES, StageConfig
from scitune.model.families import role_of


def module_of(parameter_name: str, model_type: str = "llava") -> str:
    """'model.language_model.layers.0…' / 'lm_head.weight' → 'language_model', etc., for a model of
    MODEL_TYPE (also under peft's wrappers)."""
    return role_of(parameter_name, model_type)


def _type(model: torch.nn.Module) -> str:
    return model.config.model_type  # a peft model's config is its base model's


def apply_freezing(model: LlavaForConditionalGeneration, stage: StageConfig) -> dict[str, int]:
    """Set requires_grad per module (LoRA modules stay frozen: their adapters train); returns
    trainable parameter counts per module."""
    counts = dict.fromkeys(MODULES, 0)
    for name, parameter in model.named_parameters():
        module = module_of(name, _type(model))
        parameter.requires_grad = stage.train[module] == "full"
        if parameter.requires_grad:
            counts[module] += parameter.numel()
    if not any(counts.values()) and "lora" not in stage.train.values():
        raise ValueError(f"stage '{stage.name}' would train no parameter")
    return counts


NO_DECAY_PATTERNS = (r"bias", r"layernorm", r"rmsnorm", r"(?:^|\.)norm(?:$|\.)", r"_norm(?:$|\.)")
"""Parameter names HF's Trainer exempts from weight decay (`Trainer.get_decay_parameter_names`),
besides every parameter of a `torch.nn.LayerNorm`: biases and normalisation weights."""


def decay_parameter_names(model: torch.nn.Module) -> set[str]:
    """Names of the parameters weight decay applies to: all but biases and norms, as in HF's Trainer."""
    return set(get_parameter_names(model, [torch.nn.LayerNorm], list(NO_DECAY_PATTERNS)))


def parameter_groups(model: torch.nn.Module, stage: StageConfig) -> list[dict]:
    """Optimizer parameter groups: per trained module at its own learning rate (`name`), each split
    into the weights that decay and the biases and norms that do not (`decay`)."""
    decays = decay_parameter_names(model)
    groups: dict[tuple[str, bool], list[torch.nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            groups.setdefault((module_of(name, _type(model)), name in decays), []).append(parameter)
    return [
        {"params": params, "lr": stage.module_learning_rates.get(module, stage.learning_rate), "name": module,
         "decay": decay, "weight_decay": stage.weight_decay if decay else 0.0}
        for (module, decay), params in groups.items()
    ]


def optimizer_for(model: LlavaForConditionalGeneration, stage: StageConfig) -> torch.optim.AdamW:
    """AdamW over `parameter_groups` (outside a Trainer; the stage runner builds the same groups in
    its Trainer's optimizer hook, the one FSDP and DeepSpeed allow)."""
    return torch.optim.AdamW(parameter_groups(model, stage), lr=stage.learning_rate)
