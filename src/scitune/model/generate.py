"""The generation core that every caller shares (predict, evaluate, the server, chat)."""

from __future__ import annotations

import torch
from PIL import Image
from transformers import LlavaForConditionalGeneration, LlavaProcessor

ANSWER_PROMPTER = "\n###\nANSWER:"
"""The LLaVA/SciTune ScienceQA answer prompter of two-pass answering."""


def generate_ids(
    model: LlavaForConditionalGeneration,
    processor: LlavaProcessor,
    rows: list[tuple[list[int], Image.Image | None]],
    max_new_tokens: int,
    eos: list[int],
    sampling: dict | None = None,
    streamer=None,
) -> list[list[int]]:
    """The generation core every caller shares (predict, evaluate, the server, chat): left-pad the
    prompt ids, attach the images, decode with the KV cache. Greedy unless SAMPLING gives
    `temperature`/`top_p` (the caller seeds torch). Returns each row's new token ids, cut after its
    end-of-text. A transformers streamer, if given, receives the tokens step by step."""
    pad = processor.tokenizer.pad_token_id
    longest = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), longest), pad, dtype=torch.long)
    attention = torch.zeros((len(rows), longest), dtype=torch.long)
    for row, (ids, _) in enumerate(rows):
        input_ids[row, longest - len(ids):] = torch.tensor(ids)
        attention[row, longest - len(ids):] = 1
    device = model.device
    inputs = {"input_ids": input_ids.to(device), "attention_mask": attention.to(device)}
    images = [image for _, image in rows if image is not None]
    if images:
        pixels = [processor.image_processor(image, return_tensors="pt")["pixel_values"][0] for image in images]
        inputs["pixel_values"] = torch.stack(pixels).to(device, model.dtype)
    decoding = {"do_sample": False}
    if sampling:
        decoding = {"do_sample": True, "temperature": sampling.get("temperature", 1.0),
                    "top_p": sampling.get("top_p", 1.0), "top_k": 0}
    # The image placeholder is input-only: a generated one would be read back as an image slot.
    output = model.generate(
        **inputs, max_new_tokens=max_new_tokens, eos_token_id=eos, pad_token_id=pad,
        suppress_tokens=[model.config.image_token_id], streamer=streamer, **decoding,
    )
    new = output[:, longest:].tolist()
    stops = set(eos)
    return [row[: next((i + 1 for i, t in enumerate(row) if t in stops), len(row))] for row in new]
