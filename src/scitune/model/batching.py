"""Pixel inputs of any supported family, one image at a time, and how a batch of them is laid out.

Each family's processor turns an image into its own tensors — `pixel_values` of one fixed size
(Llava, Gemma 3), a stack of any-resolution tiles with `image_sizes` (LLaVA-NeXT), a run of
flattened patches with `image_grid_thw` (Qwen2-VL), tiles with a `pixel_attention_mask`
(Idefics3) — and the model reads each of them in the order the image tokens come. So a batch is
every image's tensors in token order, concatenated along the first dimension after zero-padding
the others to the largest (zero tiles and masked pixels are what the processors themselves pad
with). Some families also need a per-token type (`mm_token_type_ids`, `token_type_ids`: 1 on
image tokens); it is recomputed from the ids of the whole row.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from PIL import Image

TEXT_KEYS = {"input_ids", "attention_mask", "token_type_ids", "mm_token_type_ids", "text_replacement_offsets"}


def image_inputs(processor, image: Image.Image) -> tuple[dict[str, torch.Tensor], str]:
    """The model inputs of one IMAGE as its processor makes them ([1, …] or [patches, …]), and the
    text the processor puts in place of the image token for it (the image tokens, and for some
    families markers around them)."""
    token = processor.image_token
    out = processor(text=[token], images=[[image]] if _nested(processor) else [image], return_tensors="pt",
                    return_text_replacement_offsets=True, add_special_tokens=False)
    replacements = out["text_replacement_offsets"][0]
    if len(replacements) != 1:
        raise ValueError(f"{type(processor).__name__} replaced {len(replacements)} image tokens for one image")
    return {k: v for k, v in out.items() if k not in TEXT_KEYS}, replacements[0]["replacement"]


def _nested(processor) -> bool:
    # Idefics3's processor reads a flat list of images as one image per text (and so, here, one text).
    return type(processor).__name__.startswith("Idefics3")


def collate_images(inputs: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Images' inputs (in token order) → one batch: per key, zero-padded to the largest shape after the
    first dimension, then concatenated along it."""
    if not inputs:
        return {}
    batch = {}
    for key in inputs[0]:
        tensors = [item[key] for item in inputs]
        shape = [max(t.shape[d] for t in tensors) for d in range(1, tensors[0].dim())]
        padded = []
        for tensor in tensors:
            if list(tensor.shape[1:]) != shape:
                grown = tensor.new_zeros((tensor.shape[0], *shape))
                grown[tuple(slice(0, n) for n in tensor.shape)] = tensor
                tensor = grown
            padded.append(tensor)
        batch[key] = torch.cat(padded)
    return batch


@dataclass(frozen=True)
class TokenTypes:
    """A per-token input some families need: KEY, 1 where the id is TOKEN_ID (an image token), else 0."""

    key: str
    token_id: int

    def of(self, input_ids: torch.Tensor) -> dict[str, torch.Tensor]:
        return {self.key: (input_ids == self.token_id).long()}


def token_types(processor) -> TokenTypes | None:
    """Which per-token type input the processor produces (and so its model reads), read off a probe."""
    probe = Image.new("RGB", (64, 64))
    out = processor(text=[processor.image_token], images=[[probe]] if _nested(processor) else [probe],
                    return_tensors="pt", add_special_tokens=False)
    for key in ("mm_token_type_ids", "token_type_ids"):
        if key in out and bool((out[key] == 1).any()):
            typed = set(out["input_ids"][out[key] == 1].tolist())
            if len(typed) != 1 or bool(((out["input_ids"] == next(iter(typed))) != (out[key] == 1)).any()):
                raise ValueError(f"{type(processor).__name__}: {key} marks more than one kind of token")
            return TokenTypes(key, typed.pop())
    return None


def batch_images(images: list[Image.Image], processor) -> dict[str, torch.Tensor]:
    """Every image's inputs, in the order given (the order of their tokens), as one batch."""
    return collate_images([image_inputs(processor, image)[0] for image in images])


def rope_positions(model):
    """For a family with 3-D rope positions (Qwen2-VL, Qwen2.5-VL): a function from one sample's ids
    [n] and its image inputs to its [3, n] positions, as the model's own `get_rope_index` computes
    them for the sample alone — what a packed row needs, sample after sample."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # under peft
    inner, image_token = base.model, base.config.image_token_id

    def positions(input_ids: torch.Tensor, images: dict) -> torch.Tensor:
        ids = input_ids[None]
        found, _ = inner.get_rope_index(ids, (ids == image_token).long(), image_grid_thw=images.get("image_grid_thw"))
        return found[:, 0]

    return positions
