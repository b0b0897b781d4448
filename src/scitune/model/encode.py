"""Conversations → token ids and loss labels, message by message: the one prompt encoder that
training, evaluation and serving share, so a generation prompt is exactly a training prefix.

Tokens and the loss mask are extended together, piece by piece of the chat format
(`ChatFormat.segments`): the BOS, system and human turns and the assistant prefix are masked
(IGNORE_INDEX), the assistant's words and end-of-turn marker (the EOS for LLaVA's templates) are
supervised. No answer span is ever searched for in a rendered string.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image
from transformers import LlavaProcessor

from scitune.contracts import IMAGE_PLACEHOLDER, Instruction
from scitune.model.chat import ChatFormat

IGNORE_INDEX = -100


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    labels: list[int]


def image_token_count(processor: LlavaProcessor) -> int:
    """How many tokens one `<image>` becomes, as the processor itself expands it."""
    size = processor.image_processor.size
    side = size.get("height") or size.get("shortest_edge")
    probe = processor(text=IMAGE_PLACEHOLDER, images=Image.new("RGB", (side, side)), add_special_tokens=False)
    return len(probe["input_ids"][0])


class Encoder:
    """Tokenizes conversations with the chat format; one per (processor, format, system prompt)."""

    def __init__(self, processor: LlavaProcessor, chat: ChatFormat, system_prompt: str):
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.chat = chat
        self.system_prompt = system_prompt
        self.image_tokens = image_token_count(processor)

    def _ids(self, text: str) -> list[int]:
        text = text.replace(IMAGE_PLACEHOLDER, IMAGE_PLACEHOLDER * self.image_tokens)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _encode(self, turns: list[tuple[str, str]], generation: bool) -> Encoded:
        ids: list[int] = []
        labels: list[int] = []
        for text, supervised in self.chat.segments(self.system_prompt, turns, generation):
            piece = self._ids(text)
            ids += piece
            labels += piece if supervised else [IGNORE_INDEX] * len(piece)
        return Encoded(ids, labels)

    def encode(self, instruction: Instruction) -> Encoded:
        """All turns; only assistant turns (with their end-of-turn marker) are supervised."""
        return self._encode([(turn.from_, turn.value) for turn in instruction.conversations], generation=False)

    def encode_chat(self, turns: list[tuple[str, str]]) -> list[int]:
        """A multi-turn generation prompt: every (role, text) turn as at training, where role is
        'human', 'gpt' or 'system' and the last turn is the human's, then the assistant prefix."""
        return self._encode(turns, generation=True).input_ids

    def encode_prompt(self, instruction: Instruction) -> list[int]:
        """Everything before the first assistant turn, plus the assistant prefix: the generation prompt."""
        turns = []
        for turn in instruction.conversations:
            if turn.from_ == "gpt":
                break
            turns.append((turn.from_, turn.value))
        return self._encode(turns, generation=True).input_ids
