"""Conversations → token ids and loss labels, message by message: the one prompt encoder that
training, evaluation and serving share, so a generation prompt is exactly a training prefix.

Tokens and the loss mask are extended together, turn by turn: system and human turns and the
assistant prefix are masked (IGNORE_INDEX), the assistant's words and end-of-turn marker are
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

    def encode(self, instruction: Instruction) -> Encoded:
        """All turns; only assistant turns are supervised."""
        ids = self._ids(self.chat.render_system(self.system_prompt))
        labels = [IGNORE_INDEX] * len(ids)
        for turn in instruction.conversations:
            if turn.from_ == "gpt":
                prefix = self._ids(self.chat.assistant_prefix)
                answer = self._ids(turn.value + self.chat.assistant_suffix)
                ids += prefix + answer
                labels += [IGNORE_INDEX] * len(prefix) + answer
            elif turn.from_ == "human":
                segment = self._ids(self.chat.render_user(turn.value))
                ids += segment
                labels += [IGNORE_INDEX] * len(segment)
            else:
                segment = self._ids(self.chat.render_system(turn.value))
                ids += segment
                labels += [IGNORE_INDEX] * len(segment)
        return Encoded(ids, labels)

    def encode_chat(self, turns: list[tuple[str, str]]) -> list[int]:
        """A multi-turn generation prompt: every (role, text) turn as at training, where role is
        'human', 'gpt' or 'system' and the last turn is the human's, then the assistant prefix."""
        ids = self._ids(self.chat.render_system(self.system_prompt))
        for role, text in turns:
            if role == "gpt":
                ids += self._ids(self.chat.assistant_prefix) + self._ids(text + self.chat.assistant_suffix)
            else:
                ids += self._ids((self.chat.render_user if role == "human" else self.chat.render_system)(text))
        return ids + self._ids(self.chat.assistant_prefix)

    def encode_prompt(self, instruction: Instruction) -> list[int]:
        """Everything before the first assistant turn, plus the assistant prefix: the generation prompt."""
        ids = self._ids(self.chat.render_system(self.system_prompt))
        for turn in instruction.conversations:
            if turn.from_ == "gpt":
                break
            render = self.chat.render_user if turn.from_ == "human" else self.chat.render_system
            ids += self._ids(render(turn.value))
        return ids + self._ids(self.chat.assistant_prefix)
