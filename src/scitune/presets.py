"""Named model presets: which vision encoder and which LM, by hub id, and their shapes.

Plain data at the bottom of the package (recipes name presets when they are validated);
`scitune.model.presets.shape_configs` turns the shapes into transformers configs.

A recipe says `model: {preset: scitune-llama2-13b}` and gets the paper's pair; users with internet
download the real weights by these hub ids. The shapes (copied from each model's public config) let
tests and `benchmarks/train_throughput.py` build the same architecture with random weights, at
reduced depth, without any download.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Preset:
    """One vision encoder + LM pairing and how the paper/recipe wires them."""

    language_model: str
    vision: str
    vision_feature_layer: int
    vision_feature_select_strategy: str
    description: str
    lm_shape: dict = field(default_factory=dict)
    vision_shape: dict = field(default_factory=dict)
    chat_template: str = "auto"
    """The conversation template LLaVA trained this LM with when its tokenizer has none (model/chat.py)."""


_LLAMA2_7B = dict(kind="llama", hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                  num_attention_heads=32, num_key_value_heads=32, vocab_size=32000, max_position_embeddings=4096,
                  rms_norm_eps=1e-5)
_LLAMA2_13B = {**_LLAMA2_7B, "hidden_size": 5120, "intermediate_size": 13824, "num_hidden_layers": 40,
               "num_attention_heads": 40, "num_key_value_heads": 40}
_QWEN25_05B = dict(kind="qwen2", hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                   num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768, rope_theta=1e6,
                   tie_word_embeddings=True, rms_norm_eps=1e-6)
_CLIP_L14 = dict(kind="clip", hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                 image_size=224, patch_size=14, projection_dim=768, hidden_act="quick_gelu")
_CLIP_L14_336 = {**_CLIP_L14, "image_size": 336}
_SIGLIP_B16 = dict(kind="siglip", hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                   image_size=224, patch_size=16)

PRESETS: dict[str, Preset] = {
    "scitune-llama2-13b": Preset(
        "meta-llama/Llama-2-13b-hf", "openai/clip-vit-large-patch14", -2, "default",
        "the SciTune paper's model: CLIP ViT-L/14 (256 image tokens, penultimate layer) + LLaMA-2-13B",
        _LLAMA2_13B, _CLIP_L14, chat_template="llama_2"),
    "scitune-llama2-7b": Preset(
        "meta-llama/Llama-2-7b-hf", "openai/clip-vit-large-patch14", -2, "default",
        "the SciTune paper's 7B model: CLIP ViT-L/14 + LLaMA-2-7B", _LLAMA2_7B, _CLIP_L14, chat_template="llama_2"),
    "llava-1.5-7b": Preset(
        "lmsys/vicuna-7b-v1.5", "openai/clip-vit-large-patch14-336", -2, "default",
        "LLaVA-1.5 style: CLIP ViT-L/14 at 336 px (576 image tokens) + Vicuna-7B v1.5", _LLAMA2_7B, _CLIP_L14_336,
        chat_template="vicuna_v1"),
    "small-modern": Preset(
        "Qwen/Qwen2.5-0.5B-Instruct", "google/siglip-base-patch16-224", -1, "full",
        "a small modern pair for one consumer GPU: SigLIP-B/16 (196 image tokens) + Qwen2.5-0.5B-Instruct",
        _QWEN25_05B, _SIGLIP_B16),
}
