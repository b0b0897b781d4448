"""Batched greedy generation over instruction JSONL, appended to a predictions file as it goes.

Prompts are built with the same chat format and encoder as training. Batches are left-padded and
sorted by prompt length (less padding); decoding is greedy unless sampling is asked for. An
interrupted run resumes: ids already in the predictions file are skipped. Under torchrun or
accelerate launch the items are shared among the processes (`scitune.evaluate.shards`): the merged
file is the one a single process writes, byte for byte.

Two-pass mode (the LLaVA/SciTune ScienceQA "answer prompter", off by default): the first pass
generates the reasoning; the second feeds it back, cut before any answer it gave, followed by the
prompter (e.g. "\n###\nANSWER:") and generates the answer alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import torch
from transformers import LlavaForConditionalGeneration, LlavaProcessor

from scitune.contracts import Instruction, Prediction
from scitune.evaluate.shards import current_ranks, fold_shards, read_ids, shard_path
from scitune.model.generate import generate_ids
from scitune.model.template import encoder_for, prompt_ids
from scitune.sources.images import load_image


def done_ids(path: Path) -> set[str]:
    """Ids already predicted in PATH. A torn line (a run killed mid-write) is dropped from the file,
    so the next append starts on a fresh line and that item is predicted again."""
    path = Path(path)
    if not path.is_file():
        return set()
    lines = path.read_text(encoding="utf-8").splitlines()
    kept, ids = [], set()
    for line in lines:
        try:
            ids.add(json.loads(line)["id"])
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
        kept.append(line)
    if len(kept) != len(lines):
        path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    return ids


@torch.inference_mode()
def predict(
    model: LlavaForConditionalGeneration,
    processor: LlavaProcessor,
    instructions: list[Instruction],
    image_root: Path,
    out_path: Path,
    system_prompt: str,
    model_name: str,
    max_new_tokens: int,
    batch_size: int = 16,
    on_batch: Callable[[int], None] | None = None,
    answer_prompter: str | None = None,
    answer_tokens: int = 8,
) -> Path:
    """Generate an answer per instruction into OUT_PATH (JSONL of Prediction), greedy.

    An item that cannot be answered (unreadable image, prompt longer than the model's context) is
    written with its `error` and empty text; the others go on. Several processes (torchrun,
    accelerate launch) each answer every WORLD-th batch of the batches one process would make, in
    shards that rank 0 merges into OUT_PATH in the order of one process: by prompt length, then by
    position in INSTRUCTIONS. Whole batches, so that every item is decoded beside the same
    neighbours as in one process: in bf16 the padding of a batch changes the numbers.
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    ranks = current_ranks()
    encoder = encoder_for(processor, system_prompt)  # any family: see model/template.py
    tokenizer = processor.tokenizer
    model.eval()
    position: dict[str, tuple[int, int]] = {}  # id → (prompt tokens, index): the order of one process

    def pending(skip: set[str]) -> list[tuple[Instruction, list[int]]]:
        found = [(index, ins, prompt_ids(encoder, ins, image_root)) for index, ins in enumerate(instructions)
                 if ins.id not in skip]
        position.update((ins.id, (len(ids), index)) for index, ins, ids in found)
        return [(ins, ids) for _, ins, ids in found]

    if ranks.is_main:  # the shards an interrupted run left behind join the file first
        skip = done_ids(out_path)
        todo = pending(skip)
        skip |= fold_shards(out_path, skip, lambda item_id: position.get(item_id, (1 << 62, 0)))
    ranks.barrier()
    if not ranks.is_main:
        skip = read_ids(out_path)
        todo = pending(skip)
    todo = [pair for pair in todo if pair[0].id not in skip]
    todo.sort(key=lambda pair: len(pair[1]))
    batches = [todo[start:start + batch_size] for start in range(0, len(todo), batch_size)][ranks.rank::ranks.world]
    target = out_path if ranks.world == 1 else shard_path(out_path, ranks.rank)
    target.parent.mkdir(parents=True, exist_ok=True)
    eos = [tokenizer.eos_token_id]
    context = getattr(model.config.get_text_config(), "max_position_embeddings", None)
    decoding = {"do_sample": False, "max_new_tokens": max_new_tokens, "system_prompt": system_prompt}
    if answer_prompter:
        decoding.update(answer_prompter=answer_prompter, answer_tokens=answer_tokens)
    with target.open("a", encoding="utf-8") as handle:
        for batch in batches:
            results = _generate_batch(model, processor, batch, image_root, max_new_tokens, eos, context)
            if answer_prompter:
                results = _answer_pass(model, processor, batch, results, image_root, answer_prompter,
                                       answer_tokens, eos, context)
            for (instruction, _), (text, error) in zip(batch, results):
                prompt = instruction.conversations[0].value
                record = Prediction(id=instruction.id, prompt=prompt, text=text, model=model_name, error=error,
                                    decoding=decoding)
                handle.write(json.dumps(record.model_dump(), ensure_ascii=False) + "\n")
            handle.flush()
            if on_batch:
                on_batch(len(batch))
    if ranks.world > 1:
        ranks.barrier()  # every shard complete
        if ranks.is_main:
            fold_shards(out_path, read_ids(out_path), lambda item_id: position.get(item_id, (1 << 62, 0)))
        ranks.barrier()  # the merged file is there for every rank
    return out_path


def _answer_pass(model, processor, batch, results, image_root, prompter, answer_tokens, eos, context):
    """Second pass: prompt + reasoning (cut before any answer) + PROMPTER → the answer alone."""
    tokenizer = processor.tokenizer
    second, reasoning = [], {}
    for index, ((instruction, ids), (text, error)) in enumerate(zip(batch, results)):
        if error is None:
            reasoning[index] = re.split(r"\s*###|\s*ANSWER:", text, maxsplit=1)[0].rstrip()
            second.append((instruction, ids + tokenizer.encode(reasoning[index] + prompter, add_special_tokens=False)))
    answers = iter(_generate_batch(model, processor, second, image_root, answer_tokens, eos, context))
    final = list(results)
    for index in reasoning:
        answer, error = next(answers)
        final[index] = (reasoning[index] + prompter + " " + answer, error)
    return final


def _generate_batch(model, processor, batch, image_root, max_new_tokens, eos, context=None) -> list[tuple[str, str | None]]:
    """Load each item's image and generate; an unreadable image or a prompt that does not fit the
    model's context fails only its item."""
    results: list[tuple[str, str | None]] = [("", None)] * len(batch)
    rows = []
    for index, (instruction, ids) in enumerate(batch):
        if context and len(ids) + max_new_tokens > context:
            results[index] = ("", f"{instruction.id}: the prompt is {len(ids)} tokens; with {max_new_tokens} new "
                                  f"tokens it exceeds the model's context of {context} tokens")
            continue
        image = None
        if instruction.image:
            try:
                image = load_image(image_root, instruction.image, instruction.id)
            except ValueError as error:
                results[index] = ("", str(error))
                continue
        rows.append((index, ids, image))
    if not rows:
        return results
    outputs = generate_ids(model, processor, [(ids, image) for _, ids, image in rows], max_new_tokens, eos)
    texts = processor.tokenizer.batch_decode(outputs, skip_special_tokens=True)
    for (index, _, _), text in zip(rows, texts):
        results[index] = (text.strip(), None)
    return results
