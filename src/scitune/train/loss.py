"""The training loss computed only where it is defined: logits for supervised positions alone.

A Llava forward normally projects every position onto the vocabulary, although only the positions
followed by a supervised token (the assistant's answer) enter the loss. The collator passes those
positions as `logits_to_keep` (a forward argument of the transformers Llava class) and this loss,
Trainer's `compute_loss_func` hook, gathers their targets. The value is the model's own
causal-LM loss (sum over supervised tokens / `num_items_in_batch`), at a fraction of the lm_head
cost when prompts are long or the vocabulary is large.
"""

from __future__ import annotations

import torch

from scitune.model.encode import IGNORE_INDEX
from scitune.train.data import supervised_positions


def supervised_loss(outputs, labels: torch.Tensor, num_items_in_batch=None) -> torch.Tensor:
    keep = supervised_positions(labels).to(labels.device)  # every kept t has t + 1 < length by construction
    targets = labels[:, keep + 1]
    logits = outputs.logits.float()
    total = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                              ignore_index=IGNORE_INDEX, reduction="sum")
    count = num_items_in_batch if num_items_in_batch is not None else (targets != IGNORE_INDEX).sum()
    return total / count
