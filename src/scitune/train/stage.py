"""Run one training stage with transformers.Trainer and save a plain Hugging Face Llava checkpoint.

Trainer supplies the loop, gradient accumulation, loss normalisation by the number of supervised
tokens across the accumulated step (`num_items_in_batch`), checkpoints and resume; we only pass the
collator and build the optimizer's parameter groups in its `create_optimizer` hook (the one place
FSDP and DeepSpeed allow: the optimizer must see the wrapped, sharded parameters). Trainer logs
loss, learning rate, grad norm and non-padding tokens/s. A step counts samples, also with packing
(train/steps.py). At the end, the full weights are gathered (from FSDP or ZeRO-3 shards) and the
main process writes one plain checkpoint that loads anywhere.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import torch
from transformers import (
    LlavaForConditionalGeneration,
    LlavaProcessor,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)
from transformers.trainer_utils import get_last_checkpoint

from scitune.config import Recipe, StageConfig, save_recipe
from scitune.contracts import write_jsonl
from scitune.curate.manifest import CuratedSet, sha256_of
from scitune.model.batching import rope_positions
from scitune.model.encode import Encoder
from scitune.model.families import family_of
from scitune.model.template import encoder_for
from scitune.sources.instructions import read_instructions
from scitune.train.data import (
    Collator,
    InstructionDataset,
    Mixture,
    PackedCollator,
    PaddingMeter,
    epoch_order,
    mixture_epochs,
    stage_samples,
)
from scitune.train.freeze import apply_freezing, module_of, parameter_groups
from scitune.train.lora import apply_lora
from scitune.train.loss import supervised_loss
from scitune.train.steps import PackedSteps, RowsCollator, step_plan


class StageTrainer(Trainer):
    """Trainer whose optimizer has one parameter group per trained module at its own learning rate,
    with biases and norms exempt from weight decay (`train.freeze.parameter_groups`). The groups are
    built in Trainer's `create_optimizer` hook, which runs after FSDP/DeepSpeed wrapped the model:
    passing a ready optimizer is refused under FSDP ("Passing optimizers is not allowed")."""

    def __init__(self, *args, stage: StageConfig, **kwargs):
        self.stage = stage
        super().__init__(*args, **kwargs)

    def create_optimizer(self, model=None) -> torch.optim.Optimizer:
        if self.optimizer is None:
            target = self.model if model is None else model
            optimizer_cls, kwargs = self.get_optimizer_cls_and_kwargs(self.args, target)
            self.optimizer = optimizer_cls(parameter_groups(target, self.stage), **kwargs)
        return self.optimizer


class PaddingCallback(TrainerCallback):
    """Adds to each log entry the share of computed positions that were padding, since the stage began."""

    def __init__(self, meter: PaddingMeter):
        self.meter = meter

    def on_log(self, args, state, control, logs=None, **kwargs):
        fraction = self.meter.read()
        if fraction is not None and state.log_history:
            state.log_history[-1]["padding_fraction"] = round(fraction, 4)


def restore_weights(model: LlavaForConditionalGeneration, checkpoint: Path) -> None:
    """Load a Trainer checkpoint's weights into MODEL.

    Needed because `save_pretrained` writes Llava weights under their legacy names
    ('language_model.model.…') while Trainer's resume loads the file with a plain non-strict
    `load_state_dict`, which then matches no key and silently keeps the current weights (checked
    with transformers 5.23: the resumed loss restarts from the untrained value). `from_pretrained`
    knows the renaming; the strict load makes any remaining mismatch an error.
    """
    saved = type(model).from_pretrained(checkpoint, dtype=model.dtype)
    model.load_state_dict(saved.state_dict(), strict=True)
    del saved


def check_resumable(checkpoint: Path, model: torch.nn.Module) -> None:
    """A Trainer checkpoint must hold this architecture; otherwise say so instead of failing deep in
    a state-dict load (a run folder reused with another model)."""
    config_file = Path(checkpoint) / "config.json"
    if not config_file.is_file():
        return
    saved = json.loads(config_file.read_text())
    current = model.config.to_dict()
    keys = [("model_type",), ("text_config", "hidden_size"), ("text_config", "num_hidden_layers"),
            ("text_config", "vocab_size"), ("vision_config", "hidden_size"), ("vision_config", "num_hidden_layers")]
    for path in keys:
        old, new = saved, current
        for key in path:
            old, new = (old or {}).get(key), (new or {}).get(key)
        if old != new:
            raise ValueError(f"cannot resume from {checkpoint}: it holds another architecture "
                             f"({'.'.join(path)} {old} there, {new} here); use a new output folder")

logger = logging.getLogger(__name__)


def file_manifest(paths: list[Path]) -> dict[str, str]:
    """sha256 of each data file, saved beside the checkpoint so a result names its exact data."""
    return {str(path): sha256_of(path) for path in paths}


def use_bf16(precision: str) -> bool:
    """bf16 autocast where the hardware has it: about 2x the fp32 tokens/s on an AVX512-BF16 CPU."""
    if precision != "auto":
        return precision == "bf16"
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def optimizer_name(use_gpu: bool) -> str:
    """Trainer's name for torch's AdamW in the implementation that is fast where the stage trains.
    On a CPU, torch's default is the per-tensor loop (its multi-tensor kernels are CUDA-only), which
    took ~0.4 s of each 2.4 s step when the embedded LM trains in full; the fused CPU kernel (torch
    >= 2.4) takes ~0.1 s for the same update. On GPUs the default multi-tensor kernel is kept: it is
    what FSDP's and DeepSpeed's sharded parameters were tested with."""
    return "adamw_torch" if use_gpu else "adamw_torch_fused"


def _tensorboard(stage: StageConfig, folder: Path) -> list[TrainerCallback]:
    if "tensorboard" not in stage.report_to:
        return []
    from torch.utils.tensorboard import SummaryWriter
    from transformers.integrations import TensorBoardCallback

    return [TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(folder)))]


def _trainable(model: torch.nn.Module) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            module = module_of(name, model.config.model_type)
            counts[module] = counts.get(module, 0) + parameter.numel()
    return counts


def packing_positions(model: torch.nn.Module, stage: StageConfig):
    """What a packed row of this model family needs besides the block-diagonal mask: nothing (positions
    restart per sample), or each sample's own 3-D rope positions (Qwen2-VL); a family whose attention
    a block-diagonal mask cannot express exactly is refused, with the reason."""
    fam = family_of(model)
    if not fam.packs_exactly:
        raise ValueError(f"stage '{stage.name}': packing is not exact for {fam.model_type} models ({fam.packing}); "
                         "set packing: false")
    return rope_positions(model) if fam.packing == "mrope" else None


def stage_dataset(stage: StageConfig, encoder: Encoder, data: dict[str, CuratedSet]) -> Mixture:
    """The stage's instruction sets, encoded, in the order of its mixture."""
    parts = []
    for name in stage.mixture:
        curated = data[name]
        parts.append(InstructionDataset(read_instructions(curated.path), encoder, curated.image_root,
                                        stage.max_length, require_image=stage.train["language_model"] == "frozen",
                                        dataset=name))
    return Mixture(parts)


def run_stage(
    recipe: Recipe,
    stage: StageConfig,
    model: LlavaForConditionalGeneration,
    processor: LlavaProcessor,
    data: dict[str, CuratedSet],
    out_dir: Path,
    base_dir: Path | None = None,
) -> Path:
    """Train `model` in place for one stage on DATA ({'figures'|'questions': curated training set});
    returns the folder of the saved checkpoint.

    Resumes from the newest intermediate checkpoint in OUT_DIR/trainer when one exists.
    """
    out_dir = Path(out_dir)
    positions = packing_positions(model, stage) if stage.packing else None  # refused before any work
    trained = apply_freezing(model, stage)
    lora = "lora" in stage.train.values()
    if lora:
        model = apply_lora(model, stage)
        trained = _trainable(model)
    logger.info("stage %s trains %s", stage.name, {k: f"{v / 1e6:.2f}M" for k, v in trained.items()})
    encoder = encoder_for(processor, recipe.curate.system_prompt)
    dataset = stage_dataset(stage, encoder, data)
    rejected = [r for part in dataset.parts for r in part.rejected]
    if not len(dataset):
        raise ValueError(f"stage {stage.name}: no usable sample in {', '.join(str(d.path) for d in data.values())}")
    meter = PaddingMeter()
    pad = processor.tokenizer.pad_token_id
    plan = step_plan(stage, int(os.environ.get("WORLD_SIZE", "1")))
    weights = list(stage.mixture.values())
    if stage.packing:
        # One item per micro-batch: the samples of each optimizer step packed into rows (train/steps.py).
        collator = RowsCollator(PackedCollator(pad, meter, supervised_logits=True, token_types=encoder.token_types,
                                               rope_positions=positions))
        order = epoch_order(dataset.lengths(), stage.epochs, stage.batch_size * plan.accumulation, recipe.seed,
                            False, mixture_epochs(dataset.sizes(), weights, stage.epochs, recipe.seed))
        train_data = PackedSteps(dataset, order, plan, stage.max_length)
        per_device = 1
    else:
        collator = Collator(pad, meter, supervised_logits=True, token_types=encoder.token_types)
        train_data = stage_samples(dataset, weights, stage.epochs, stage.batch_size * plan.accumulation,
                                   recipe.seed, stage.group_by_length)
        per_device = stage.batch_size
    use_gpu = torch.cuda.is_available()
    args = TrainingArguments(
        output_dir=str(out_dir / "trainer"),
        per_device_train_batch_size=per_device,
        gradient_accumulation_steps=plan.accumulation,
        num_train_epochs=1,  # the stage's epochs are laid out in `order`
        learning_rate=stage.learning_rate,
        lr_scheduler_type=stage.lr_scheduler_type,
        warmup_steps=stage.warmup_ratio,
        weight_decay=stage.weight_decay,
        optim=optimizer_name(use_gpu),
        logging_steps=stage.logging_steps,
        save_steps=stage.save_steps,
        save_total_limit=stage.save_total_limit,
        seed=recipe.seed,
        data_seed=recipe.seed,
        # TensorBoard gets its own writer below, so its logs live beside the model, not in trainer/.
        report_to=[r for r in stage.report_to if r != "tensorboard"],
        remove_unused_columns=False,
        train_sampling_strategy="sequential",
        dataloader_num_workers=0,
        include_num_input_tokens_seen="non_padding",
        use_cpu=not use_gpu,
        bf16=use_bf16(stage.precision),
        tf32=True if use_gpu and torch.cuda.get_device_capability()[0] >= 8 else None,
        activation_checkpointing=stage.gradient_checkpointing,
        disable_tqdm=False,
    )
    trainer = StageTrainer(
        model=model,
        args=args,
        stage=stage,
        train_dataset=train_data,
        data_collator=collator,
        compute_loss_func=supervised_loss,  # logits only where the loss needs them (see train/loss.py)
        callbacks=[PaddingCallback(meter), *_tensorboard(stage, out_dir / "logs")],
    )
    last = get_last_checkpoint(args.output_dir) if Path(args.output_dir).is_dir() else None
    if last:
        check_resumable(last, model)
        if not lora and any(Path(last).glob("*.safetensors")):  # FSDP's sharded checkpoints: Trainer loads them
            restore_weights(model, Path(last))
        logger.info("stage %s resumes from %s", stage.name, last)
    trainer.train(resume_from_checkpoint=last)
    agreement = ranks_agree(trainer.accelerator.unwrap_model(trainer.model_wrapped))
    final = out_dir / "model"
    main = trainer.is_world_process_zero()
    distributed = trainer.args.world_size > 1
    if lora:
        trainer.save_model(str(out_dir / "adapter"))  # the adapter alone, for those who want it
        if stage.qlora or distributed:
            # Merge into the full-precision base, not into 4-bit or sharded weights.
            from peft import PeftModel

            from scitune.model.build import load_llava

            if main:
                base, _ = load_llava(base_dir)
                PeftModel.from_pretrained(base, out_dir / "adapter").merge_and_unload().save_pretrained(final)
        elif main:
            model.merge_and_unload().save_pretrained(final, safe_serialization=True)
    else:
        save_full_model(trainer, final)
    if main:
        (final / "training_args.bin").unlink(missing_ok=True)
        processor.save_pretrained(final)
        save_recipe(recipe, final / "recipe.yaml")
        (final / "data_manifest.json").write_text(json.dumps(file_manifest([d.path for d in data.values()]), indent=2))
        (out_dir / "log_history.json").write_text(json.dumps(trainer.state.log_history, indent=2))
        write_jsonl(out_dir / "rejected.jsonl", rejected)
        (out_dir / "training_summary.json").write_text(json.dumps({
            "world_size": trainer.args.world_size, "steps": trainer.state.global_step,
            "distributed": _engine(trainer), "samples_per_step": plan.samples_per_step,
            "gradient_accumulation_steps": plan.accumulation, "packing": stage.packing,
            "trained_parameters": trained, "ranks_agree": agreement, "samples": len(dataset),
            "rejected": len(rejected), "samples_per_set": dict(zip(stage.mixture, dataset.sizes()))}, indent=2))
    if distributed:
        trainer.accelerator.wait_for_everyone()
    return final


def _engine(trainer: Trainer) -> str:
    """How the stage ran: fsdp1/fsdp2, deepspeed-zeroN, ddp or single."""
    if trainer.is_fsdp_enabled:
        return f"fsdp{getattr(trainer.accelerator.state.fsdp_plugin, 'fsdp_version', 1)}"
    if trainer.is_deepspeed_enabled:
        return f"deepspeed-zero{trainer.accelerator.state.deepspeed_plugin.zero_stage}"
    return "ddp" if trainer.args.world_size > 1 else "single"


def save_full_model(trainer: Trainer, folder: Path) -> None:
    """The trained weights as one plain checkpoint in FOLDER, whatever holds them: FSDP shards and
    ZeRO-3 partitions are gathered (on every rank, as the collective requires; to the CPU of rank 0)
    and the main process writes them with `save_pretrained`. Trainer's own `save_model` writes no
    full weights under FSDP's SHARDED_STATE_DICT, which is what intermediate checkpoints use."""
    state_dict = trainer.accelerator.get_state_dict(trainer.model_wrapped)
    if trainer.is_world_process_zero():
        model = trainer.accelerator.unwrap_model(trainer.model_wrapped)
        model.save_pretrained(folder, state_dict=state_dict, safe_serialization=True)


def whole_weights_digest(model: torch.nn.Module) -> str | None:
    """A sha256 of the trained weights as whole tensors: an FSDP2 shard (a DTensor) is gathered one
    parameter at a time, a ZeRO-3 partition likewise; a collective, so every rank must call it. None
    under FSDP1, whose flat shards cannot be gathered per parameter without the whole model."""
    from torch.distributed.tensor import DTensor

    digest = hashlib.sha256()
    for name, parameter in sorted(model.named_parameters(), key=lambda item: item[0]):
        if "_fsdp_wrapped_module" in name or "_flat_param" in name:
            return None
        if not parameter.requires_grad:
            continue
        digest.update(name.encode())
        if hasattr(parameter, "ds_id"):  # DeepSpeed ZeRO-3 keeps a partition; gather this one parameter
            import deepspeed

            with deepspeed.zero.GatheredParameters([parameter]):
                digest.update(parameter.detach().float().cpu().numpy().tobytes())
            continue
        whole = parameter.full_tensor() if isinstance(parameter, DTensor) else parameter
        digest.update(whole.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()


def ranks_agree(model: torch.nn.Module) -> bool | None:
    """In a distributed run, whether every process ends with the same trained weights, compared as
    whole tensors (`whole_weights_digest`, gathered from all ranks); None when training ran in one
    process, or under FSDP1."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return None
    mine = whole_weights_digest(model)
    everyone = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, mine)
    if any(digest is None for digest in everyone):
        logger.warning("whole weights not compared across ranks under FSDP1 (fsdp_version 2 compares them)")
        return None
    return len(set(everyone)) == 1
