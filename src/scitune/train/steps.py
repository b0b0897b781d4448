"""The optimizer step counted in samples, with or without packing.

One optimizer step sees `samples_per_step` samples (the global batch: LLaVA's and the paper's 128),
whatever the number of processes, the accumulation and packing:
- without packing, each process reads `batch_size` samples per micro-batch, and a step is
  `gradient_accumulation_steps` micro-batches on each of the `world` processes;
- with packing, the samples of each step are packed together into evenly filled rows of at most
  `max_length` tokens (`balanced_rows`), and the rows are dealt to the step's
  `gradient_accumulation_steps × world` micro-batches, so the processes get similar token counts. A packed row holds many
  samples, so counting rows (`batch_size` rows per process) would multiply the global batch by
  the samples per row; counting samples keeps the recipe's learning rate meaning what it says.

The loss of a step is normalised by its supervised tokens across all its micro-batches (Trainer's
`num_items_in_batch`), so how the samples are split into rows and micro-batches does not change it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from scitune.config import StageConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepPlan:
    """How a stage's optimizer step is made of micro-batches."""

    samples_per_step: int
    """Samples per optimizer step over all processes (the global batch)."""
    accumulation: int
    """Micro-batches accumulated per process per optimizer step."""
    world: int
    """Processes training together."""

    @property
    def micro_batches(self) -> int:
        """Micro-batches of one optimizer step over all processes."""
        return self.accumulation * self.world


def step_plan(stage: StageConfig, world: int) -> StepPlan:
    """The stage's step in samples on WORLD processes; `samples_per_step`, when the recipe sets it,
    decides the accumulation (and must be a multiple of batch_size × world)."""
    if stage.samples_per_step is None:
        accumulation = stage.gradient_accumulation_steps
        return StepPlan(stage.batch_size * accumulation * world, accumulation, world)
    per_round = stage.batch_size * world
    if stage.samples_per_step % per_round:
        raise ValueError(f"stage '{stage.name}': samples_per_step {stage.samples_per_step} is not a multiple of "
                         f"batch_size {stage.batch_size} × {world} process(es) = {per_round}; change batch_size or "
                         "the number of processes")
    return StepPlan(stage.samples_per_step, stage.samples_per_step // per_round, world)


def balanced_rows(lengths: list[int], indices: list[int], max_length: int, multiple: int = 1) -> list[list[int]]:
    """The samples INDICES in as few rows of at most MAX_LENGTH tokens as fit, their number a
    multiple of MULTIPLE (the step's micro-batches, which then get as many rows each), filled
    evenly: longest sample first into the emptiest row. Rows of one micro-batch are padded to the
    longest of them, so even rows waste little, where rows filled one by one to the brim would leave
    the last one short. The same rows for the same samples on every run."""
    total = sum(lengths[i] for i in indices)
    count = -(-max(1, -(-total // max_length)) // multiple) * multiple
    order = sorted(indices, key=lambda i: (-lengths[i], i))
    while True:
        rows: list[list[int]] = [[] for _ in range(count)]
        load = [0] * count
        for index in order:
            row = min(range(count), key=lambda r: (load[r], r))
            if load[row] + lengths[index] > max_length:
                break
            rows[row].append(index)
            load[row] += lengths[index]
        else:
            return [row for row in rows if row]
        count += multiple


def _deal(rows: list[list[int]], lengths: list[int], count: int) -> list[list[list[int]]]:
    """ROWS (lists of sample indices) dealt to COUNT micro-batches, each row to the one with the
    fewest tokens so far; rows are split first when there are fewer rows than micro-batches."""
    rows = [list(row) for row in rows]
    while len(rows) < count:
        widest = max(range(len(rows)), key=lambda r: (len(rows[r]), -r))
        if len(rows[widest]) < 2:
            raise ValueError(f"{sum(len(r) for r in rows)} samples cannot fill {count} micro-batches")
        row = rows.pop(widest)
        rows += [row[: len(row) // 2], row[len(row) // 2:]]
    size = [sum(lengths[i] for i in row) for row in rows]
    batches: list[list[list[int]]] = [[] for _ in range(count)]
    load = [0] * count
    for r in sorted(range(len(rows)), key=lambda r: (-size[r], r)):
        target = min(range(count), key=lambda b: (load[b], b))
        batches[target].append(rows[r])
        load[target] += size[r]
    return batches


class PackedSteps(torch.utils.data.Dataset):
    """Every micro-batch of a packed stage, in training order: item k is one micro-batch (a list of
    packed rows) and the items of step s are `[s × micro_batches, (s + 1) × micro_batches)`, which is
    how Trainer's sequential loader hands them to the processes and accumulation rounds.

    ORDER is the stage's sample order (several epochs long); a last step with fewer samples than
    micro-batches joins the step before it (so no sample is dropped or seen twice)."""

    def __init__(self, dataset: torch.utils.data.Dataset, order: list[int], plan: StepPlan, max_length: int):
        self.dataset = dataset
        lengths = dataset.lengths()
        per_step = plan.samples_per_step
        steps = [order[i:i + per_step] for i in range(0, len(order), per_step)]
        if len(steps) > 1 and len(steps[-1]) < plan.micro_batches:
            tail = steps.pop()
            steps[-1] = steps[-1] + tail
        if not steps or len(steps[0]) < plan.micro_batches:
            raise ValueError(f"{len(order)} samples cannot fill the {plan.micro_batches} micro-batches of one step")
        self.step_samples = [len(step) for step in steps]
        self.items: list[list[list[int]]] = []
        for step in steps:
            rows = balanced_rows(lengths, step, max_length, plan.micro_batches)
            self.items += _deal(rows, lengths, plan.micro_batches)
        self._lengths = lengths

    def __len__(self) -> int:
        return len(self.items)

    def tokens(self) -> list[int]:
        """Real tokens of each micro-batch."""
        return [sum(self._lengths[i] for row in rows for i in row) for rows in self.items]

    def __getitem__(self, index: int) -> dict:
        return {"rows": [{"samples": [self.dataset[i] for i in row]} for row in self.items[index]]}


@dataclass
class RowsCollator:
    """Collates one `PackedSteps` item (Trainer's per-device batch size is 1: one micro-batch) with
    the packed collator: its rows become the batch's rows."""

    packed: object  # a train.data.PackedCollator

    def __call__(self, items: list[dict]) -> dict[str, torch.Tensor]:
        return self.packed([row for item in items for row in item["rows"]])
