"""Run one training stage with transformers.Trainer and save a plain Hugging Face Llava checkpoint.

Trainer supplies the loop, gradient accumulation, loss normalisation by the number of supervised
tokens across the accumulated step (`num_items_in_batch`), checkpoints and resume; we only pass the
optimizer parameter groups and the collator, its documented hooks; Trainer logs loss, learning
rate, grad norm and non-padding tokens/s.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import torch
from transformers import LlavaForConditionalGeneration, LlavaProcessor, Trainer, TrainingArguments
from transformers.trainer_utils import get_last_checkpoint

from scitune.config import Recipe, StageConfig, save_recipe
from scitune.contracts import Instruction, read_jsonl
from scitune.model.chat import chat_format
from scitune.train.data import Collator, Encoder, InstructionDataset
from scitune.train.freeze import apply_freezing, optimizer_for

logger = logging.getLogger(__name__)


def file_manifest(paths: list[Path]) -> dict[str, str]:
    """sha256 of each data file, saved beside the checkpoint so a result names its exact data."""
    manifest = {}
    for path in paths:
        digest = hashlib.sha256()
        with Path(path).open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        manifest[str(path)] = digest.hexdigest()
    return manifest


def use_bf16(precision: str) -> bool:
    """bf16 autocast where the hardware has it: about 2x the fp32 tokens/s on an AVX512-BF16 CPU."""
    if precision != "auto":
        return precision == "bf16"
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def run_stage(
    recipe: Recipe,
    stage: StageConfig,
    model: LlavaForConditionalGeneration,
    processor: LlavaProcessor,
    data_path: Path,
    image_root: Path,
    out_dir: Path,
) -> Path:
    """Train `model` in place for one stage; returns the folder of the saved checkpoint.

    Resumes from the newest intermediate checkpoint in OUT_DIR/trainer when one exists.
    """
    out_dir = Path(out_dir)
    trained = apply_freezing(model, stage)
    logger.info("stage %s trains %s", stage.name, {k: f"{v / 1e6:.2f}M" for k, v in trained.items()})
    instructions = list(read_jsonl(data_path, Instruction))
    encoder = Encoder(processor, chat_format(processor.tokenizer), recipe.curate.system_prompt)
    dataset = InstructionDataset(instructions, encoder, image_root, stage.max_length)
    if not len(dataset):
        raise ValueError(f"stage {stage.name}: no usable sample in {data_path}")
    use_gpu = torch.cuda.is_available()
    args = TrainingArguments(
        output_dir=str(out_dir / "trainer"),
        per_device_train_batch_size=stage.batch_size,
        gradient_accumulation_steps=stage.gradient_accumulation_steps,
        num_train_epochs=stage.epochs,
        learning_rate=stage.learning_rate,
        lr_scheduler_type=stage.lr_scheduler_type,
        warmup_steps=stage.warmup_ratio,
        weight_decay=stage.weight_decay,
        logging_steps=stage.logging_steps,
        save_steps=stage.save_steps,
        save_total_limit=stage.save_total_limit,
        seed=recipe.seed,
        data_seed=recipe.seed,
        report_to=[],
        remove_unused_columns=False,
        train_sampling_strategy="group_by_length" if stage.group_by_length else "random",
        dataloader_num_workers=0,
        include_num_input_tokens_seen="non_padding",
        use_cpu=not use_gpu,
        bf16=use_bf16(stage.precision),
        disable_tqdm=False,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=Collator(processor.tokenizer.pad_token_id),
        optimizers=(optimizer_for(model, stage), None),
    )
    last = get_last_checkpoint(args.output_dir) if Path(args.output_dir).is_dir() else None
    if last:
        logger.info("stage %s resumes from %s", stage.name, last)
    trainer.train(resume_from_checkpoint=last)
    final = out_dir / "model"
    model.save_pretrained(final, safe_serialization=True)
    processor.save_pretrained(final)
    save_recipe(recipe, final / "recipe.yaml")
    (final / "data_manifest.json").write_text(json.dumps(file_manifest([data_path]), indent=2))
    (out_dir / "log_history.json").write_text(json.dumps(trainer.state.log_history, indent=2))
    (out_dir / "rejected.jsonl").write_text("".join(json.dumps(r) + "\n" for r in dataset.rejected))
    return final
