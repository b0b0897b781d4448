"""Predictions across processes: each rank answers its share into its own shard file, and rank 0
merges the shards into the one predictions file, in the order one process would have written it.

Launched by `torchrun` or `accelerate launch` (they set RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
MASTER_PORT), `predict` cuts the pending items into the batches one process would make (sorted by
prompt length) and deals the batches round-robin to the ranks: every item is decoded beside the
same neighbours as in one process (in bf16 the padding changes the numbers), and every rank gets
the same mix of short and long prompts. Rank R appends to
`PRED.jsonl.shards/rank{R}.jsonl` batch by batch, so a rank that dies loses only the batch it was
generating; the next run (with any number of processes) first folds every shard left behind into
PRED.jsonl and then predicts only what is still missing. The processes only meet at barriers (a
gloo process group, on CPU and GPU machines alike): no tensors travel between them.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

log = logging.getLogger(__name__)

BARRIER_TIMEOUT = timedelta(hours=12)
"""How long a rank waits at a barrier for the others: the ranks that finish their share first
wait there for the slowest one, which may take hours on a large benchmark. A rank that dies does
not make the others wait this long: torchrun and accelerate stop the whole group."""


@dataclass(frozen=True)
class Ranks:
    """This process's place among the processes that predict together."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def device(self) -> str:
        """The GPU of this rank (its LOCAL_RANK) when there are GPUs, else the CPU."""
        import torch

        return f"cuda:{self.local_rank % torch.cuda.device_count()}" if torch.cuda.is_available() else "cpu"


def current_ranks() -> Ranks:
    """The ranks of this launch: from an initialised process group, else from the launcher's
    environment (joining the group then, so that barriers work), else one process."""
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    if dist.is_available() and dist.is_initialized():
        return Ranks(dist.get_rank(), dist.get_world_size(), local)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Ranks()
    missing = [name for name in ("RANK", "MASTER_ADDR", "MASTER_PORT") if name not in os.environ]
    if missing:
        raise ValueError(f"WORLD_SIZE is {world} but {', '.join(missing)} is not set: start several processes with "
                         "torchrun or accelerate launch, or unset WORLD_SIZE for one process")
    dist.init_process_group("gloo", timeout=BARRIER_TIMEOUT)
    atexit.register(dist.destroy_process_group)
    ranks = Ranks(dist.get_rank(), dist.get_world_size(), local)
    log.info("predicting as rank %d of %d", ranks.rank, ranks.world)
    return ranks


def rank_share(items: int, batch_size: int, ranks: Ranks) -> int:
    """How many of ITEMS this rank answers: its batches, dealt round-robin."""
    starts = range(ranks.rank * batch_size, items, ranks.world * batch_size)
    return sum(min(batch_size, items - start) for start in starts)


def shard_folder(out_path: Path) -> Path:
    return Path(out_path).with_name(Path(out_path).name + ".shards")


def shard_path(out_path: Path, rank: int) -> Path:
    return shard_folder(out_path) / f"rank{rank}.jsonl"


def read_ids(path: Path) -> set[str]:
    """Ids of the complete lines of a predictions file, without repairing it (another process may
    own it); a torn last line is not an id."""
    path = Path(path)
    if not path.is_file():
        return set()
    ids = set()
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            try:
                ids.add(json.loads(line)["id"])
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
    return ids


def fold_shards(out_path: Path, done: set[str], order: Callable[[str], tuple]) -> set[str]:
    """Append the predictions of every shard beside OUT_PATH that OUT_PATH lacks (ids not in DONE),
    sorted by ORDER(id), then delete the shards. Returns the ids added.

    Idempotent: killed after the append and before the deletion, the next fold adds nothing twice.
    A torn line (a rank killed mid-write) is dropped: that item is predicted again.
    """
    folder = shard_folder(out_path)
    if not folder.is_dir():
        return set()
    lines: dict[str, str] = {}
    for shard in sorted(folder.glob("rank*.jsonl")):
        with shard.open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    item_id = json.loads(line)["id"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    log.warning("%s: a torn line dropped (its item is predicted again)", shard)
                    continue
                if item_id not in done and item_id not in lines:
                    lines[item_id] = line if line.endswith("\n") else line + "\n"
    ordered = sorted(lines, key=order)
    with Path(out_path).open("a", encoding="utf-8") as handle:
        handle.writelines(lines[item_id] for item_id in ordered)
        handle.flush()
        os.fsync(handle.fileno())
    for shard in folder.glob("rank*.jsonl"):
        shard.unlink()
    if not any(folder.iterdir()):
        folder.rmdir()
    if ordered:
        log.info("merged %d predictions from %s into %s", len(ordered), folder, out_path)
    return set(ordered)
