"""A preset's architecture as transformers configs, for random-weight wiring tests and benchmarks."""

from __future__ import annotations

from transformers import CLIPVisionConfig, LlamaConfig, PretrainedConfig, Qwen2Config, SiglipVisionConfig

from scitune.presets import PRESETS


def shape_configs(name: str, lm_layers: int | None = None, vision_layers: int | None = None,
                  vocab_size: int | None = None) -> tuple[PretrainedConfig, PretrainedConfig]:
    """The preset's LM and vision configs in their real widths, optionally shallower (random-weight
    wiring tests and throughput benchmarks)."""
    preset = PRESETS[name]
    lm = dict(preset.lm_shape)
    kind = lm.pop("kind")
    if lm_layers:
        lm["num_hidden_layers"] = lm_layers
    if vocab_size:
        lm["vocab_size"] = vocab_size
    text_config = {"llama": LlamaConfig, "qwen2": Qwen2Config}[kind](**lm)
    vision = dict(preset.vision_shape)
    vision_kind = vision.pop("kind")
    if vision_layers:
        vision["num_hidden_layers"] = vision_layers
    vision_config = {"clip": CLIPVisionConfig, "siglip": SiglipVisionConfig}[vision_kind](**vision)
    return text_config, vision_config
