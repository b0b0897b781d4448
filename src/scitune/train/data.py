"""Instructions → token ids, labels and pixel values, with labels built message by message.

Tokens and the loss mask are extended together, turn by turn: system and human turns and the
assistant prefix are masked (-100), the assistant's words and end-of-turn marker are supervised.
No answer span is ever searched for in a rendered string, so no sample is silently mis-masked.
"""

from __future__ import annotations

import bisect
import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from scitune.contracts import Instruction, Rejection
from scitune.model.batching import TokenTypes, collate_images
from scitune.model.encode import IGNORE_INDEX, Encoded, Encoder
from scitune.sources.images import ImageError, check_image, load_image, resolve_image

logger = logging.getLogger(__name__)


def supervised_positions(labels: torch.Tensor) -> torch.Tensor:
    """Positions t (shared by the batch's rows) whose next token t+1 is supervised in some row: the
    only logits the loss needs (`train.loss.supervised_loss`)."""
    keep = (labels[:, 1:] != IGNORE_INDEX).any(dim=0).nonzero().flatten()
    return keep if keep.numel() else torch.zeros(1, dtype=torch.long)


class InstructionDataset(torch.utils.data.Dataset):
    """Encoded instructions; images are decoded lazily per item. A sample that cannot train (too
    long, image missing or outside the root, no image while only the image path trains) is
    quarantined in `rejected` with its kind and reason, never dropped silently."""

    def __init__(self, instructions: Iterable[Instruction], encoder: Encoder, image_root: Path | None,
                 max_length: int, require_image: bool = False, dataset: str = ""):
        self.encoder = encoder
        self.image_root = Path(image_root) if image_root is not None else None
        self.items: list[tuple[Instruction, Encoded]] = []
        self.rejected: list[Rejection] = []

        def reject(instruction: Instruction, kind: str, reason: str) -> None:
            self.rejected.append(Rejection(id=instruction.id, dataset=dataset, kind=kind, reason=reason))

        for instruction in instructions:
            if require_image and not instruction.image:
                # With the LM frozen only the image path trains; a text-only sample would give a loss
                # that no trained parameter affects (and a batch of them, an error).
                reject(instruction, "text_only_with_frozen_lm", "no image, and the language model is frozen in "
                                                                "this stage: nothing it trains sees it")
                continue
            size = None
            if instruction.image:
                if self.image_root is None:
                    reject(instruction, "no_image_root", f"image {instruction.image} but the data names no image root")
                    continue
                try:
                    path = resolve_image(self.image_root, instruction.image, instruction.id)
                    if getattr(encoder, "dynamic", False):  # its token count depends on its size
                        size = image_size(path, instruction.id)
                except ImageError as error:  # missing or outside the root: quarantined, counted, named
                    reject(instruction, error.kind, str(error))
                    continue
            encoded = encoder.encode(instruction, size) if size else encoder.encode(instruction)
            if len(encoded.input_ids) > max_length:
                reject(instruction, "too_long", f"{len(encoded.input_ids)} tokens, more than max_length {max_length}")
                continue
            self.items.append((instruction, encoded))
        if self.rejected:
            logger.warning("%d samples rejected (first: %s)", len(self.rejected), self.rejected[0].reason)

    def __len__(self) -> int:
        return len(self.items)

    def lengths(self) -> list[int]:
        return [len(encoded.input_ids) for _, encoded in self.items]

    def __getitem__(self, index: int) -> dict:
        instruction, encoded = self.items[index]
        item = {"input_ids": encoded.input_ids, "labels": encoded.labels}
        if instruction.image:
            image = load_image(self.image_root, instruction.image, instruction.id)
            if hasattr(self.encoder, "image_inputs"):  # any family: its processor's own tensors
                item["image_inputs"] = self.encoder.image_inputs(image, instruction.id)
            else:
                item["pixel_values"] = self.encoder.processor.image_processor(image, return_tensors="pt")["pixel_values"][0]
        return item


def image_size(path: Path, item_id: str) -> tuple[int, int]:
    """(width, height) of the image at PATH from its header, without decoding its pixels."""
    check_image(path, item_id, "header")
    with Image.open(path) as image:
        return image.size


def batch_images(items: list[dict]) -> dict[str, torch.Tensor]:
    """The images of ITEMS (samples in row order), as the model reads them: Llava's pixel values
    stacked, any other family's inputs laid out by `model.batching.collate_images`."""
    pixels = [item["pixel_values"] for item in items if "pixel_values" in item]
    if pixels:
        return {"pixel_values": torch.stack(pixels)}  # [images, 3, H, W], in token order
    return collate_images([item["image_inputs"] for item in items if "image_inputs" in item])


@dataclass
class Collator:
    """Pads a batch on the right for training; pixel values of the items that have an image."""

    pad_token_id: int
    meter: "PaddingMeter | None" = None
    supervised_logits: bool = False
    """Add `logits_to_keep` (the positions the loss uses) for `train.loss.supervised_loss`."""
    token_types: TokenTypes | None = None
    """The per-token type input the model family needs (Qwen2-VL, Gemma 3), if any."""

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
        batch = {"input_ids": input_ids, "labels": labels, "attention_mask": attention_mask, **batch_images(items)}
        if self.token_types is not None:
            batch.update(self.token_types.of(input_ids))
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


class Mixture(torch.utils.data.Dataset):
    """Several instruction sets (each with its own image root) read as one, set after set."""

    def __init__(self, parts: list[InstructionDataset]):
        self.parts = parts
        self.offsets = [0]
        for part in parts:
            self.offsets.append(self.offsets[-1] + len(part))

    def __len__(self) -> int:
        return self.offsets[-1]

    def sizes(self) -> list[int]:
        return [len(part) for part in self.parts]

    def lengths(self) -> list[int]:
        return [length for part in self.parts for length in part.lengths()]

    def __getitem__(self, index: int) -> dict:
        part = bisect.bisect_right(self.offsets, index) - 1
        return self.parts[part][index - self.offsets[part]]


def best_fit_packs(lengths: list[int], indices: Iterable[int], max_length: int) -> list[list[int]]:
    """Samples packed into sequences of at most MAX_LENGTH tokens (best fit, longest first: few,
    well-filled packs, the same packs for the same samples on every run)."""
    order = sorted(indices, key=lambda i: (-lengths[i], i))
    free: list[tuple[int, int]] = []  # (room left, pack number), kept sorted
    packs: list[list[int]] = []
    for index in order:
        slot = bisect.bisect_left(free, (lengths[index], -1))
        if slot == len(free):
            packs.append([index])
            bisect.insort(free, (max_length - lengths[index], len(packs) - 1))
            continue
        room, pack = free.pop(slot)
        packs[pack].append(index)
        bisect.insort(free, (room - lengths[index], pack))
    return packs


class PackedDataset(torch.utils.data.Dataset):
    """Packs of samples of DATASET (all of them, or the listed INDICES), each a training row."""

    def __init__(self, dataset: torch.utils.data.Dataset, max_length: int, indices: Iterable[int] | None = None):
        self.dataset = dataset
        self.packs = best_fit_packs(dataset.lengths(), range(len(dataset)) if indices is None else indices,
                                    max_length)

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
    token_types: TokenTypes | None = None
    """The per-token type input the model family needs (Qwen2-VL, Gemma 3), if any."""
    rope_positions: "Callable[[torch.Tensor, dict], torch.Tensor] | None" = None
    """For families with their own position scheme (Qwen2-VL's 3-D rope): one sample's ids and image
    inputs → its [3, n] positions, as the model computes them for the sample alone
    (`model.batching.rope_positions`). The row then gets [4, rows, L] position ids: the restarting
    text positions first, as transformers' Qwen2-VL reads packed rows."""

    def __call__(self, packs: list[dict]) -> dict[str, torch.Tensor]:
        rows = [pack["samples"] for pack in packs]
        longest = max(sum(len(s["input_ids"]) for s in samples) for samples in rows)
        input_ids = torch.full((len(rows), longest), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(rows), longest), IGNORE_INDEX, dtype=torch.long)
        positions = torch.zeros((len(rows), longest), dtype=torch.long)
        rope = torch.zeros((3, len(rows), longest), dtype=torch.long) if self.rope_positions else None
        mask = torch.zeros((len(rows), 1, longest, longest), dtype=torch.bool)
        for row, samples in enumerate(rows):
            start = 0
            for sample in samples:
                n = len(sample["input_ids"])
                input_ids[row, start:start + n] = torch.tensor(sample["input_ids"])
                labels[row, start:start + n] = torch.tensor(sample["labels"])
                positions[row, start:start + n] = torch.arange(n)
                if rope is not None:
                    rope[:, row, start:start + n] = self.rope_positions(input_ids[row, start:start + n],
                                                                        sample.get("image_inputs", {}))
                mask[row, 0, start:start + n, start:start + n] = torch.ones(n, n, dtype=torch.bool).tril()
                start += n
            # Padding attends to itself only, so no row of the mask is empty (softmax over nothing).
            mask[row, 0, range(start, longest), range(start, longest)] = True
        if self.meter is not None:
            self.meter.add(sum(len(s["input_ids"]) for samples in rows for s in samples), input_ids.numel())
        if rope is not None:
            positions = torch.cat([positions[None], rope])
        batch = {"input_ids": input_ids, "labels": labels, "attention_mask": mask, "position_ids": positions,
                 **batch_images([sample for samples in rows for sample in samples])}
        if self.token_types is not None:
            batch.update(self.token_types.of(input_ids))
        if self.supervised_logits:
            batch["logits_to_keep"] = supervised_positions(labels)
        return batch


def mixture_epochs(sizes: list[int], weights: list[float], epochs: float, seed: int) -> list[list[int]]:
    """The samples of each epoch, as indices into the sets laid end to end: per epoch,
    round(weight × size) samples of each set — all of it at 1.0, a fresh random subset below
    (drawn from SEED, the epoch and the set), whole copies plus a subset above. A fractional last
    epoch is the head of its shuffle (see `epoch_order`)."""
    offsets = [sum(sizes[:k]) for k in range(len(sizes))]
    chosen = []
    for epoch in range(int(epochs) + (epochs > int(epochs))):
        indices = []
        for number, (size, weight, offset) in enumerate(zip(sizes, weights, offsets)):
            whole, part = int(weight), weight - int(weight)
            picked = list(range(size)) * whole
            if part and size:
                rng = random.Random(f"{seed}:{epoch}:set{number}")
                picked += sorted(rng.sample(range(size), round(part * size)))
            indices += [offset + i for i in picked]
        chosen.append(indices)
    return chosen


def epoch_order(lengths: list[int], epochs: float, batch: int, seed: int, group_by_length: bool,
                chosen: list[list[int]] | None = None) -> list[int]:
    """The sample order of a whole stage, drawn from SEED alone: a fresh shuffle per epoch of that
    epoch's samples (CHOSEN, from `mixture_epochs`; every sample by default) and, when grouping by
    length, samples of similar length side by side within blocks of 50 batches (the longest block
    first, so an out-of-memory shows at step one). A fractional last epoch takes the head of its
    shuffle.

    Drawing the order up front (not from the global RNG when the loader starts) is what makes a
    resumed stage see exactly the batches an uninterrupted one would.
    """
    order: list[int] = []
    whole, part = int(epochs), epochs - int(epochs)
    chosen = chosen or [list(range(len(lengths)))] * (whole + (part > 0))
    for epoch, indices in enumerate(chosen):
        rng = random.Random(f"{seed}:{epoch}")
        indices = list(indices)
        rng.shuffle(indices)
        if group_by_length:
            block = batch * 50
            blocks = [sorted(indices[i:i + block], key=lambda k: -lengths[k]) for i in range(0, len(indices), block)]
            blocks.sort(key=lambda b: -lengths[b[0]])
            indices = [k for b in blocks for k in b]
        if epoch == whole:
            indices = indices[: max(1, round(part * len(indices)))]
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


def stage_samples(dataset: Mixture, weights: list[float], epochs: float, batch: int, seed: int,
                  group_by_length: bool, pack_length: int | None = None) -> torch.utils.data.Dataset:
    """Every training row of a stage in order: samples (or, with PACK_LENGTH, packs of each epoch's
    samples), shuffled per epoch from SEED. With one set at weight 1.0 this is the plain epoch order."""
    chosen = mixture_epochs(dataset.sizes(), weights, epochs, seed)
    if pack_length is None:
        return Ordered(dataset, epoch_order(dataset.lengths(), epochs, batch, seed, group_by_length, chosen))
    # Packs are already as long as they can be; grouping them by length would only reorder them.
    per_epoch = [PackedDataset(dataset, pack_length, indices) for indices in chosen]
    rows = Mixture(per_epoch)
    offsets = rows.offsets
    by_epoch = [list(range(offsets[e], offsets[e + 1])) for e in range(len(per_epoch))]
    return Ordered(rows, epoch_order(rows.lengths(), epochs, batch, seed, False, by_epoch))
