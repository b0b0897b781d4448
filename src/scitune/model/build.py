"""Compose a vision encoder and a causal LM into `LlavaForConditionalGeneration` + `LlavaProcessor`.

Only assembly lives here: the forward pass, the image-token splice and generation are the
`transformers` Llava classes' own, so the checkpoint loads anywhere with no custom code.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    CLIPVisionConfig,
    CLIPVisionModel,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    PreTrainedTokenizerBase,
    SiglipVisionConfig,
    SiglipVisionModel,
)
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

from scitune.config import ModelConfig, VisionConfig
from scitune.contracts import IMAGE_PLACEHOLDER
from scitune.model.chat import chat_template_for, resolve_template
from scitune.model.device import Hardware, Placement, choose_placement, parameter_count
from scitune.model.embedded import EMBEDDED_NAME, embedded_lm_folder
from scitune.model.pretrained import load_model, supported_checkpoint

logger = logging.getLogger(__name__)

TINY_LM = "tiny"
"""A 2-layer random Llama with the embedded tokenizer: tests run the real code in seconds."""


def resolve_lm_name(name: str) -> str | Path:
    """Recipe name → what `from_pretrained` takes: local folder, else hub id; embedded → its cache."""
    if name in (EMBEDDED_NAME, TINY_LM):
        return embedded_lm_folder()
    if Path(name).expanduser().is_dir():
        return Path(name).expanduser()
    return name  # a hub id such as "meta-llama/Llama-2-7b-hf"; users with internet resolve it


def load_language_model(cfg: ModelConfig, seed: int = 0) -> tuple[torch.nn.Module, PreTrainedTokenizerBase]:
    """The causal LM (pretrained, or random from `seed` when `language_model` is 'tiny') and its tokenizer."""
    source = resolve_lm_name(cfg.language_model)
    tokenizer = AutoTokenizer.from_pretrained(source)
    if cfg.language_model == TINY_LM:
        torch.manual_seed(seed)
        config = LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=cfg.tiny_lm_hidden_size,
            intermediate_size=cfg.tiny_lm_hidden_size * 2,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=2048,
            tie_word_embeddings=True,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        lm = AutoModelForCausalLM.from_config(config)
    else:
        lm = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)
    return lm, tokenizer


def vision_config_from(cfg: VisionConfig) -> SiglipVisionConfig | CLIPVisionConfig:
    """The vision tower's config: a pretrained encoder's own, or a random one of the given shape."""
    if cfg.pretrained:
        config = AutoConfig.from_pretrained(cfg.pretrained)
        return getattr(config, "vision_config", config)
    shape = dict(
        image_size=cfg.image_size,
        patch_size=cfg.patch_size,
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.hidden_size * 4,
        num_hidden_layers=cfg.num_hidden_layers,
        num_attention_heads=cfg.num_attention_heads,
    )
    if cfg.model_type == "siglip_vision_model":
        return SiglipVisionConfig(**shape)
    return CLIPVisionConfig(**shape)


def build_processor(
    vision: SiglipVisionConfig | CLIPVisionConfig,
    tokenizer: PreTrainedTokenizerBase,
    select_strategy: str,
) -> LlavaProcessor:
    """LlavaProcessor whose image processor matches the tower (size, normalisation)."""
    size = {"height": vision.image_size, "width": vision.image_size}
    if vision.model_type == "siglip_vision_model":
        image_processor = SiglipImageProcessorPil(size=size)
        extra_tokens = 0  # SigLIP has no CLS token
    else:
        image_processor = CLIPImageProcessorPil(
            size={"shortest_edge": vision.image_size},
            crop_size=size,
        )
        extra_tokens = 1  # CLIP's CLS token; the 'default' strategy drops it again
    return LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=vision.patch_size,
        vision_feature_select_strategy=select_strategy,
        image_token=IMAGE_PLACEHOLDER,
        num_additional_image_tokens=extra_tokens,
        chat_template=tokenizer.chat_template,
    )


def build_model(cfg: ModelConfig, seed: int = 0):
    """The base model of a run: the released model `cfg.pretrained` names (any supported family, with
    its own processor), else a Llava assembled from an LM and a vision tower (`build_llava`)."""
    if cfg.pretrained:
        return load_model(resolve_lm_name(cfg.pretrained))
    return build_llava(cfg, seed)


def build_llava(cfg: ModelConfig, seed: int = 0) -> tuple[LlavaForConditionalGeneration, LlavaProcessor]:
    """Assemble a fresh Llava model: pretrained (or tiny) LM + vision tower + random projector.

    Same config and seed, same weights, whether or not the embedded LM had to be converted first.
    """
    lm, tokenizer = load_language_model(cfg, seed)
    vision = vision_config_from(cfg.vision)
    tower = None
    if cfg.vision.pretrained:
        tower_cls = SiglipVisionModel if vision.model_type == "siglip_vision_model" else CLIPVisionModel
        tower = tower_cls.from_pretrained(cfg.vision.pretrained)
    return assemble(lm, tokenizer, vision, cfg, seed, tower)


def assemble(
    lm: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    vision: SiglipVisionConfig | CLIPVisionConfig,
    cfg: ModelConfig,
    seed: int = 0,
    tower: torch.nn.Module | None = None,
) -> tuple[LlavaForConditionalGeneration, LlavaProcessor]:
    """Llava from a causal LM (its weights are copied in), a vision config (and its pretrained
    tower, if any) and a fresh projector drawn from SEED; the image token is added to the tokenizer."""
    tokenizer.add_special_tokens({"additional_special_tokens": [IMAGE_PLACEHOLDER]})
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"  # generation appends on the right; training masks padding
    template = resolve_template(cfg.chat_template, tokenizer)
    if template:  # written into the tokenizer, so the checkpoint carries it (see model/chat.py)
        tokenizer.chat_template = chat_template_for(template, tokenizer)
    processor = build_processor(vision, tokenizer, cfg.vision_feature_select_strategy)
    # What the processor expands one <image> into: every patch, plus CLIP's CLS unless 'default' drops it.
    image_tokens = (vision.image_size // vision.patch_size) ** 2 + (
        processor.num_additional_image_tokens - (cfg.vision_feature_select_strategy == "default")
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=lm.config,
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_PLACEHOLDER),
        image_seq_length=image_tokens,
        projector_hidden_act="gelu",
        vision_feature_layer=cfg.vision_feature_layer,
        vision_feature_select_strategy=cfg.vision_feature_select_strategy,
        tie_word_embeddings=bool(getattr(lm.config, "tie_word_embeddings", False)),
    )
    torch.manual_seed(seed)  # after every load, so only this seed decides the random parts
    model = LlavaForConditionalGeneration._from_config(config, dtype=lm.dtype)
    model.model.language_model.load_state_dict(lm.model.state_dict())
    model.lm_head.load_state_dict(lm.lm_head.state_dict())
    if tower is not None:
        model.model.vision_tower.load_state_dict(tower.state_dict())
    model.generation_config = lm.generation_config
    # New rows (the image token) start at the mean embedding, as transformers does by default.
    model.resize_token_embeddings(len(tokenizer))
    model.config.text_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    logger.info(
        "assembled Llava: %s + %s vision tower, %d image tokens, %.1fM parameters",
        cfg.language_model,
        vision.model_type,
        config.image_seq_length,
        sum(p.numel() for p in model.parameters()) / 1e6,
    )
    return model, processor


def _check_llava(folder: Path) -> None:
    if not (folder / "config.json").is_file():
        raise ValueError(f"{folder} is not a model checkpoint: it has no config.json")
    config = AutoConfig.from_pretrained(folder)
    if config.model_type != "llava":
        from scitune.model.families import UnknownFamily, family

        try:
            family(config.model_type)
        except UnknownFamily as error:
            raise ValueError(f"{folder} holds a '{config.model_type}' model, not a Llava model nor one of another "
                             f"supported family: {error}") from None


def load_processor(folder: Path) -> LlavaProcessor:
    """A checkpoint's processor, its tokenizer padding on the left and carrying the chat template."""
    processor = LlavaProcessor.from_pretrained(folder)
    processor.tokenizer.padding_side = "left"
    if processor.chat_template and not processor.tokenizer.chat_template:
        processor.tokenizer.chat_template = processor.chat_template
    return processor


def load_llava(folder: Path, quantize_4bit: bool = False) -> tuple[LlavaForConditionalGeneration, LlavaProcessor]:
    """Load a checkpoint folder for training: fp32 weights on the CPU (the Trainer places them); a
    folder that is not Llava is refused. Inference loads with `load_for_inference`.

    QUANTIZE_4BIT loads the language model in NF4 (QLoRA's frozen base; CUDA + bitsandbytes).
    """
    folder = Path(folder)
    if supported_checkpoint(folder):  # a released model of another family (model/families.py)
        return load_model(folder, quantize_4bit)
    _check_llava(folder)
    kwargs = {}
    if quantize_4bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16,
            llm_int8_skip_modules=["vision_tower", "multi_modal_projector", "lm_head"])
    model = LlavaForConditionalGeneration.from_pretrained(folder, dtype=torch.float32, **kwargs)
    return model, load_processor(folder)


def load_for_inference(folder: Path, device: str = "auto", dtype: str = "auto", hardware: Hardware | None = None
                       ) -> tuple[LlavaForConditionalGeneration, LlavaProcessor]:
    """Load a checkpoint for generation, placed by the one rule of `model.device.choose_placement`:
    the GPU when there is one (bf16 where it computes it, else fp16), else the CPU (fp32, bf16 where
    the CPU computes it natively); DEVICE and DTYPE override it; a model larger than one GPU is
    spread with device_map='auto'. The choice is logged and kept as `model.placement`."""
    folder = Path(folder)
    placement: Placement = choose_placement(parameter_count(folder), device, dtype, hardware)
    if supported_checkpoint(folder):  # a released model of another family (model/families.py)
        model, processor = load_model(folder, **placement.load_kwargs())
        model.eval()
        model.placement = placement
        return model, processor
    _check_llava(folder)
    model = LlavaForConditionalGeneration.from_pretrained(folder, **placement.load_kwargs())
    model.eval()
    model.placement = placement
    logger.info("loaded %s on %s", folder, placement.describe())
    return model, load_processor(folder)


def trained_recipe(folder: Path) -> dict:
    """The recipe a checkpoint was made with (its recipe.yaml), {} for checkpoints made elsewhere:
    what inference must repeat (system prompt, prompt format, CTOM components)."""
    import yaml

    path = Path(folder) / "recipe.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {} if path.is_file() else {}


def trained_system_prompt(folder: Path) -> str:
    return (trained_recipe(folder).get("curate") or {}).get("system_prompt", "")
