"""Load and save any supported vision-language model with plain transformers: a released checkpoint
(hub id or folder) or one of ours, through the image-text-to-text auto classes and its own processor.

transformers builds video processors only with torchvision. Families whose processor also takes
one (Qwen2-VL, Qwen2.5-VL) are then built for images alone — SciTune trains on images — and saved
under the family's own processor class with the video settings kept, so the folder still loads as
a plain transformers checkpoint where torchvision is installed.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor

from scitune.model.families import FAMILIES, Family, family

logger = logging.getLogger(__name__)


@functools.cache
def image_only_processor(processor_class: type) -> type:
    """PROCESSOR_CLASS without its video processor: the same class name (so a saved folder names the
    real class), an `__init__` that takes no video processor, everything else inherited."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        processor_class.__init__(self, image_processor=image_processor, tokenizer=tokenizer, video_processor=None,
                                 chat_template=chat_template, **kwargs)

    def save_pretrained(self, save_directory, *args, **kwargs):
        saved = processor_class.save_pretrained(self, save_directory, *args, **kwargs)
        _keep_video_settings(self, Path(save_directory))
        return saved

    return type(processor_class.__name__, (processor_class,), {
        "__init__": __init__, "save_pretrained": save_pretrained, "__module__": __name__, "image_only": True})


def _keep_video_settings(processor, folder: Path) -> None:
    """Write the video processor's settings a processor built for images alone does not hold (those it
    was loaded with, else its image settings, which the family's video processor shares), so that
    plain transformers with torchvision loads the folder as the family's full processor."""
    path = folder / "processor_config.json"
    settings = json.loads(path.read_text()) if path.is_file() else {}
    video = getattr(processor, "video_settings", None)
    if video is None:
        video = {k: v for k, v in settings.get("image_processor", {}).items() if k != "image_processor_type"}
        video["video_processor_type"] = type(processor).__name__.replace("Processor", "VideoProcessor")
    settings["video_processor"] = video
    path.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")


def _has_torchvision() -> bool:
    return importlib.util.find_spec("torchvision") is not None


def _processor_class(config) -> type:
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES

    import transformers

    return getattr(transformers, PROCESSOR_MAPPING_NAMES[config.model_type])


def load_processor(source: str | Path, fam: Family, config=None):
    """The checkpoint's own processor; for a family with a video processor and no torchvision, its
    processor built from the image processor, the tokenizer and the chat template alone."""
    if not fam.video_processor or _has_torchvision():
        processor = AutoProcessor.from_pretrained(source)
    else:
        from transformers import AutoImageProcessor, AutoTokenizer

        config = config or AutoConfig.from_pretrained(source)
        cls = image_only_processor(_processor_class(config))
        settings = cls.get_processor_dict(source)[0] if hasattr(cls, "get_processor_dict") else {}
        wanted = set(_init_parameters(cls)) - {"self", "image_processor", "tokenizer", "video_processor", "kwargs"}
        kwargs = {k: v for k, v in settings.items() if k in wanted}
        processor = cls(image_processor=AutoImageProcessor.from_pretrained(source),
                        tokenizer=AutoTokenizer.from_pretrained(source), **kwargs)
        processor.video_settings = settings.get("video_processor")
        logger.info("%s: processor built for images alone (video processing needs torchvision)", source)
    processor.tokenizer.padding_side = "left"  # generation appends on the right; training masks padding
    if processor.tokenizer.pad_token is None:
        processor.tokenizer.pad_token = processor.tokenizer.eos_token
    return processor


def _init_parameters(cls: type) -> list[str]:
    import inspect

    names = []
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            names += list(inspect.signature(klass.__init__).parameters)
    return names


def supported_checkpoint(folder: Path) -> bool:
    """Whether FOLDER holds a model of a supported family other than Llava (which `build` loads itself)."""
    config_file = Path(folder) / "config.json"
    if not config_file.is_file():
        return False
    return json.loads(config_file.read_text()).get("model_type") in set(FAMILIES) - {"llava"}


def load_model(source: str | Path, quantize_4bit: bool = False, **load_kwargs):
    """(model, processor) of a checkpoint of any supported family (`families.FAMILIES`), from a folder
    or a hub id; an unknown family is refused with how to add it. LOAD_KWARGS go to `from_pretrained`
    (default: fp32 on the CPU, for training; `build.load_for_inference` places it for generation).

    QUANTIZE_4BIT loads the language model in NF4 (QLoRA's frozen base; CUDA + bitsandbytes)."""
    if isinstance(source, Path) or Path(str(source)).expanduser().exists():
        source = Path(source).expanduser()
        if not (source / "config.json").is_file():
            raise ValueError(f"{source} is not a model checkpoint: it has no config.json")
    config = AutoConfig.from_pretrained(source)
    fam = family(config.model_type)
    kwargs = {"dtype": torch.float32, **load_kwargs}
    if quantize_4bit:
        from transformers import BitsAndBytesConfig

        keep = [path for path, role in fam.parts if role != "language_model"] + ["lm_head"]
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16,
            llm_int8_skip_modules=keep)
    model = AutoModelForImageTextToText.from_pretrained(source, **kwargs)
    processor = load_processor(source, fam, config)
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = processor.tokenizer.pad_token_id
    logger.info("loaded %s (%s): %.1fM parameters", source, fam.model_type,
                sum(p.numel() for p in model.parameters()) / 1e6)
    return model, processor


def save_model(model, processor, folder: Path) -> Path:
    """A plain transformers checkpoint folder: weights (safetensors), config and processor."""
    folder = Path(folder)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)  # a processor built for images alone keeps its video settings
    return folder
