"""Instructions → token ids, labels and pixel values, with labels built message by message.

Tokens and the loss mask are extended together, turn by turn: system and human turns and the
assistant prefix are masked (-100), the assistant's words and end-of-turn marker are supervised.
No answer span is ever searched for in a rendered string, so no sample is silently mis-masked.
"""

from __future__ import annotations

import bisect
import logging
import random
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from transformers import LlavaProcessor

from scitune.contracts import IMAGE_PLACEHOLDER, Instruction
from scitune.model.chat import ChatFormat
from scitune.sources.images import load_image, resolve_image

logger = logging.getLogger(__name__)

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


def supervised_positions(labels: torch.Tensor) -> torch.Tensor:
    """Positions t (shared by the batch's rows) whose next token t+1 is supervised in some row: the
    only logits the loss needs (`train.loss.supervised_loss`)."""
    keep = (labels[:, 1:] != IGNORE_INDEX).any(dim=0).nonzero().flatten()
    return keep if keep.numel() else torch.zeros(1, dtype=torch.long)


class InstructionDataset(torch.utils.data.Dataset):
    """Encoded instructions; images are decoded lazily per item, samples too long are rejected."""

    def __init__(self, instructions: list[Instruction], encoder: Encoder, image_root: Path, max_length: int,
                 require_image: bool = False):
        self.encoder = encoder
        self.image_root = Path(image_root)
        self.items: list[tuple[Instruction, Encoded]] = []
        self.rejected: list[dict] = []
        for instruction in instructions:
            if require_image and not instruction.image:
                # With the LM frozen only the image path trains; a text-only sample would give a loss
                # that no trained parameter affects (and a batch of them, an error).
                self.rejected.append({"id": instruction.id, "reason": "no image, and the language model is frozen "
                                                                      "in this stage: nothing it trains sees it"})
                continue
            encoded = encoder.encode(instruction)
            if len(encoded.input_ids) > max_length:
                self.rejected.append({
                    "id": instruction.id,
                    "reason": f"{len(encoded.input_ids)} tokens, more than max_length {max_length}",
                })
                continue
            if instruction.image:
                try:
                    resolve_image(self.image_root, instruction.image, instruction.id)
                except ValueError as error:  # missing or outside the root: quarantined, counted, named
                    self.rejected.append({"id": instruction.id, "reason": str(error)})
                    continue
            self.items.append((instruction, encoded))
        if self.rejected:
            logger.warning("%d samples rejected (first: %s)", len(self.rejected), self.rejected[0])

    def __len__(self) -> int:
        return len(self.items)

    def lengths(self) -> list[int]:
        return [len(encoded.input_ids) for _, encoded in self.items]

    def __getitem__(self, index: int) -> dict:
        instruction, encoded = self.items[index]
        item = {"input_ids": encoded.input_ids, "labels": encoded.labels}
        if instruction.image:
            image = load_image(self.image_root, instruction.image, instruction.id)
            item["pixel_values"] = self.encoder.processor.image_processor(image, return_tensors="pt")["pixel_values"][0]
        return item


@dataclass
class Collator:
    """Pads a batch on the right for training; pixel values of the items that have an image."""

    pad_token_id: int
    meter: "PaddingMeter | None" = None
    supervised_logits: bool = False
    """Add `logits_to_keep` (the positions the loss uses) for `train.loss.supervised_loss`."""

    def __call__(self, items: list[dict]) -> dict[str, torch.Tensor]:
        longest = max(len(item["input_ids"]) for item in items)
        input_ids = torch.full((len(items), longest), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(items), longest), IGNORE_INDEX, dtype=torch.long)
        attention_mask = torch.zeros((len(items), longest), dtype=torch.long)
        for row, item in enumerate(items):
            n = len(item["input_ids"])
            input_ids[row, :n] = torch.tensor(item["input_ids"])
            labels[row, :n] = torch.tensor(item["labels"])
            attention_mask[row, :n] = 1
        if self.meter is not None:
            self.meter.add(int(attention_mask.sum()), attention_mask.numel())
        batch = {"input_ids": input_ids, "labels": labels, "attention_mask": attention_mask}
        pixels = [item["pixel_values"] for item in items if "pixel_values" in item]
        if pixels:
            batch["pixel_values"] = torch.stack(pixels)  # [images, 3, H, W], in token order
        if self.supervised_logits:
            batch["logits_to_keep"] = supervised_positions(labels)
        return batch


class PaddingMeter:
    """Real tokens and computed positions of every batch a collator built so far in the stage.

    Cumulative on purpose: the data loader prepares a batch ahead of the step that uses it, so a
    per-interval count would be one batch off; the running share is exact up to that one batch."""

    def __init__(self) -> None:
        self.real = self.total = 0

    def add(self, real: int, total: int) -> None:
        self.real += real
        self.total += total

    def read(self) -> float | None:
        return 1 - self.real / self.total if self.total else None


class PackedDataset(torch.utils.data.Dataset):
    """Samples packed into sequences of at most MAX_LENGTH tokens (best fit, longest first: few,
    well-filled packs, the same packs on every run)."""

    def __init__(self, dataset: InstructionDataset, max_length: int):
        self.dataset = dataset
        lengths = dataset.lengths()
        order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
        free: list[tuple[int, int]] = []  # (room left, pack number), kept sorted
        self.packs: list[list[int]] = []
        for index in order:
            slot = bisect.bisect_left(free, (lengths[index], -1))
            if slot == len(free):
                self.packs.append([index])
                bisect.insort(free, (max_length - lengths[index], len(self.packs) - 1))
                continue
            room, pack = free.pop(slot)
            self.packs[pack].append(index)
            bisect.insort(free, (room - lengths[index], pack))

    def __len__(self) -> int:
        return len(self.packs)

    def lengths(self) -> list[int]:
        lengths = self.dataset.lengths()
        return [sum(lengths[i] for i in pack) for pack in self.packs]

    def __getitem__(self, index: int) -> dict:
        return {"samples": [self.dataset[i] for i in self.packs[index]]}


@dataclass
class PackedCollator:
    """Rows of packed samples: position ids restart at each sample and a block-diagonal causal mask
    ([rows, 1, L, L], bool) keeps every sample from attending to the others, so each sample's loss
    is what it would be alone; only the ends of rows are padding."""

    pad_token_id: int
    meter: PaddingMeter | None = None
    supervised_logits: bool = False

    def __call__(self, packs: list[dict]) -> dict[str, torch.Tensor]:
        rows = [pack["samples"] for pack in packs]
        longest = max(sum(len(s["input_ids"]) for s in samples) for samples in rows)
        input_ids = torch.full((len(rows), longest), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(rows), longest), IGNORE_INDEX, dtype=torch.long)
        positions = torch.zeros((len(rows), longest), dtype=torch.long)
        mask = torch.zeros((len(rows), 1, longest, longest), dtype=torch.bool)
        pixels = []
        for row, samples in enumerate(rows):
            start = 0
            for sample in samples:
                n = len(sample["input_ids"])
                input_ids[row, start:start + n] = torch.tensor(sample["input_ids"])
                labels[row, start:start + n] = torch.tensor(sample["labels"])
                positions[row, start:start + n] = torch.arange(n)
                mask[row, 0, start:start + n, start:start + n] = torch.ones(n, n, dtype=torch.bool).tril()
                if "pixel_values" in sample:
                    pixels.append(sample["pixel_values"])
                start += n
            # Padding attends to itself only, so no row of the mask is empty (softmax over nothing).
            mask[row, 0, range(start, longest), range(start, longest)] = True
        if self.meter is not None:
            self.meter.add(sum(len(s["input_ids"]) for samples in rows for s in samples), input_ids.numel())
        batch = {"input_ids": input_ids, "labels": labels, "attention_mask": mask, "position_ids": positions}
        if pixels:
            batch["pixel_values"] = torch.stack(pixels)
        if self.supervised_logits:
            batch["logits_to_keep"] = supervised_positions(labels)
        return batch


def epoch_order(lengths: list[int], epochs: float, batch: int, seed: int, group_by_length: bool) -> list[int]:
    """The sample order of a whole stage, drawn from SEED alone: a fresh shuffle per epoch and, when
    grouping by length, samples of similar length side by side within blocks of 50 batches (the
    longest block first, so an out-of-memory shows at step one). A fractional last epoch takes the
    head of its shuffle.

    Drawing the order up front (not from the global RNG when the loader starts) is what makes a
    resumed stage see exactly the batches an uninterrupted one would.
    """
    order: list[int] = []
    count = len(lengths)
    whole, part = int(epochs), epochs - int(epochs)
    for epoch in range(whole + (part > 0)):
        rng = random.Random(f"{seed}:{epoch}")
        indices = list(range(count))
        rng.shuffle(indices)
        if group_by_length:
            block = batch * 50
            blocks = [sorted(indices[i:i + block], key=lambda k: -lengths[k]) for i in range(0, count, block)]
            blocks.sort(key=lambda b: -lengths[b[0]])
            indices = [k for b in blocks for k in b]
        if epoch == whole:
            indices = indices[: max(1, round(part * count))]
        order += indices
    return order


class Ordered(torch.utils.data.Dataset):
    """A dataset read in a fixed order (possibly several epochs long)."""

    def __init__(self, dataset: torch.utils.data.Dataset, order: list[int]):
        self.dataset, self.order = dataset, order

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, index: int) -> dict:
        return self.dataset[self.order[index]]
