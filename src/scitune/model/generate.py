"""The generation core that every caller shares (predict, evaluate, the server, chat), and the one
rule for where an answer ends (`stop_rule`): the same in every path by construction."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from PIL import Image
from transformers import LlavaForConditionalGeneration, LlavaProcessor

from scitune.model.chat import chat_format
from scitune.model.template import generation_inputs, released_stop_ids, suppressed_ids

ANSWER_PROMPTER = "\n###\nANSWER:"
"""The LLaVA/SciTune ScienceQA answer prompter of two-pass answering."""


@dataclass(frozen=True)
class StopRule:
    """Where generated text ends: at any of `token_ids` (kept as the row's last token) or where one
    of `strings` begins (the text of a next turn the model started to write; cut before it)."""

    token_ids: tuple[int, ...]
    strings: tuple[str, ...] = ()


def stop_rule(processor: LlavaProcessor, model: LlavaForConditionalGeneration | None = None) -> StopRule:
    """The stop rule of a checkpoint: the tokenizer's EOS, the model's generation EOS ids, the
    chat format's end-of-turn token (e.g. `<|im_end|>` of a template whose EOS is another token),
    and the text that opens the template's next turn (`USER:` for vicuna_v1, `[INST]` for llama_2)."""
    tokenizer = processor.tokenizer
    ids = [tokenizer.eos_token_id]
    if model is not None:
        configured = model.generation_config.eos_token_id
        ids += configured if isinstance(configured, list) else [configured]
    released = released_stop_ids(processor)  # a released model of any family: its own template's end of turn
    if released is not None:
        return StopRule(tuple(dict.fromkeys(i for i in [*released, *ids] if i is not None)))
    chat = chat_format(processor)
    end = tokenizer(chat.assistant_suffix.strip(), add_special_tokens=False)["input_ids"][:1]
    if end and end[0] in tokenizer.all_special_ids:
        ids += end
    return StopRule(tuple(dict.fromkeys(i for i in ids if i is not None)), chat.stop_strings)


def stop_token_ids(processor: LlavaProcessor, model: LlavaForConditionalGeneration | None = None) -> list[int]:
    """The token ids that end an answer (see `stop_rule`); the first is the tokenizer's EOS."""
    return list(stop_rule(processor, model).token_ids)


def _cut(row: list[int], rule: StopRule, tokenizer) -> list[int]:
    """ROW up to and including its first stop token; a row whose text reaches a stop string is cut
    before the token where that string begins and ends with the EOS, as if the turn had ended there."""
    stops = set(rule.token_ids)
    end = next((i + 1 for i, t in enumerate(row) if t in stops), len(row))
    row = row[:end]
    if not rule.strings or (row and row[-1] in stops):
        return row
    text = tokenizer.decode(row, skip_special_tokens=True)
    found = [text.find(s) for s in rule.strings if s in text]
    if not found:
        return row
    where = min(found)
    # The longest head of ROW whose text ends before the stop string (decoded lengths grow with the head).
    low, high = 0, len(row)
    while low < high:
        middle = (low + high + 1) // 2
        if len(tokenizer.decode(row[:middle], skip_special_tokens=True)) <= where:
            low = middle
        else:
            high = middle - 1
    return row[:low] + [rule.token_ids[0]]


def generate_ids(
    model: LlavaForConditionalGeneration,
    processor: LlavaProcessor,
    rows: list[tuple[list[int], Image.Image | None]],
    max_new_tokens: int,
    eos: list[int] | None = None,
    sampling: dict | None = None,
    streamer=None,
) -> list[list[int]]:
    """The generation core every caller shares (predict, evaluate, the server, chat): left-pad the
    prompt ids, attach the images, decode with the KV cache. Greedy unless SAMPLING gives
    `temperature`/`top_p` (the caller seeds torch). Returns each row's new token ids, cut by the
    checkpoint's `stop_rule` (EOS ids given in EOS are added to it). A transformers streamer, if
    given, receives the tokens step by step."""
    rule = stop_rule(processor, model)
    if eos:
        rule = StopRule(tuple(dict.fromkeys([*rule.token_ids, *eos])), rule.strings)
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
    # The images' inputs in the family's layout (and its per-token types): see model/batching.py.
    for key, value in generation_inputs(processor, images, input_ids).items():
        inputs[key] = value.to(device, model.dtype) if value.is_floating_point() else value.to(device)
    decoding = {"do_sample": False}
    if sampling:
        decoding = {"do_sample": True, "temperature": sampling.get("temperature", 1.0),
                    "top_p": sampling.get("top_p", 1.0), "top_k": 0}
    if rule.strings:  # rows stop as soon as their text reaches a next turn (transformers' stop strings)
        decoding.update(stop_strings=list(rule.strings), tokenizer=processor.tokenizer)
    # The image placeholder is input-only: a generated one would be read back as an image slot.
    output = model.generate(
        **inputs, max_new_tokens=max_new_tokens, eos_token_id=list(rule.token_ids), pad_token_id=pad,
        suppress_tokens=suppressed_ids(model, processor), streamer=streamer, **decoding,
    )
    new = output[:, longest:].tolist()
    return [_cut(row, rule, processor.tokenizer) for row in new]
