"""Training engine: LoRA merged into a plain checkpoint, packing equal to unpacked, padding and
TensorBoard logs, clear refusals (QLoRA without a GPU, a LoRA target that matches nothing)."""

import json

import pytest
import torch

from scitune.config import StageConfig, load_recipe, shipped_recipe
from scitune.contracts import write_jsonl
from scitune.curate.manifest import CuratedSet
from scitune.curate.scienceqa import problem_instructions
from scitune.model.build import build_llava, load_llava
from scitune.model.encode import Encoder
from scitune.sources.demo import generate_corpus
from scitune.train.data import Collator, InstructionDataset, PackedCollator, PackedDataset
from scitune.train.freeze import module_of
from scitune.train.lora import check_qlora
from scitune.train.stage import run_stage

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    _, problems = generate_corpus(folder / "corpus", 2, 0.25, 64, seed=0)
    write_jsonl(folder / "questions.jsonl", problem_instructions(problems, "QCM-LEPA"))
    return folder


def _questions(folder):
    return {"questions": CuratedSet(folder / "questions.jsonl", folder / "corpus")}


def _stage(**kw):
    base = dict(name="s", data="questions", learning_rate=5e-3, epochs=1, batch_size=4, report_to=[],
                save_steps=1000, logging_steps=1,
                train={"vision_tower": "frozen", "multi_modal_projector": "full", "language_model": "lora"})
    base.update(kw)
    return StageConfig(**base)


def test_lora_trains_adapters_and_saves_a_plain_merged_checkpoint(data, tmp_path):
    recipe = load_recipe(shipped_recipe("tiny"))
    model, processor = build_llava(recipe.model, seed=0)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    final = run_stage(recipe, _stage(), model, processor, _questions(data), tmp_path / "s")
    assert (tmp_path / "s" / "adapter" / "adapter_config.json").is_file()
    merged, _ = load_llava(final)
    after = dict(merged.named_parameters())
    assert not any("lora" in name or "modules_to_save" in name for name in after), "a plain Llava checkpoint"
    changed = {n for n in before if not torch.equal(before[n], after[n])}
    assert any(".self_attn.q_proj." in n for n in changed), "LoRA updates are merged into the LM's linear layers"
    assert not any("embed_tokens" in n for n in changed), "layers without adapters stay as they were"
    assert {module_of(n) for n in changed} == {"language_model", "multi_modal_projector"}
    history = json.loads((tmp_path / "s" / "log_history.json").read_text())
    assert all(0 <= h["padding_fraction"] < 1 for h in history if "loss" in h)


def test_a_lora_target_matching_nothing_fails_before_training(data, tmp_path):
    recipe = load_recipe(shipped_recipe("tiny"))
    model, processor = build_llava(recipe.model, seed=0)
    stage = _stage(lora={"target_modules": ["no_such_layer"]})
    with pytest.raises(ValueError, match="stage 's': lora.target_modules \\['no_such_layer'\\] match no linear layer"):
        run_stage(recipe, stage, model, processor, _questions(data), tmp_path / "s")
    assert not (tmp_path / "s" / "trainer").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for machines without a GPU")
def test_qlora_without_a_gpu_says_what_is_missing():
    with pytest.raises(ValueError, match="qlora needs a CUDA GPU"):
        check_qlora(_stage(qlora=True))


def test_packed_batches_give_the_unpacked_loss(data):
    from scitune.contracts import Instruction, read_jsonl
    from scitune.model.chat import chat_format

    recipe = load_recipe(shipped_recipe("tiny"))
    model, processor = build_llava(recipe.model, seed=0)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
    encoder = Encoder(processor, chat_format(processor.tokenizer), "")
    dataset = InstructionDataset(list(read_jsonl(data / "questions.jsonl", Instruction))[:12], encoder,
                                 data / "corpus", 512)
    packed = PackedDataset(dataset, max_length=400)
    assert sorted(i for pack in packed.packs for i in pack) == list(range(len(dataset))), "each sample once"
    assert max(packed.lengths()) <= 400 and len(packed) < len(dataset)
    model.eval()
    with torch.no_grad():
        packed_loss = model(**PackedCollator(0)([packed[i] for i in range(len(packed))])).loss
        padded_loss = model(**Collator(0)([dataset[i] for i in range(len(dataset))])).loss
    assert torch.allclose(packed_loss, padded_loss, rtol=1e-5), (packed_loss, padded_loss)


def test_packing_computes_less_padding_and_tensorboard_logs(data, tmp_path):
    recipe = load_recipe(shipped_recipe("tiny"))
    fractions = {}
    for packing in (False, True):
        model, processor = build_llava(recipe.model, seed=0)
        # The same 8 samples per step both ways: padded to the longest, or packed into even rows of at
        # most 512 tokens (the demo questions vary little in length: real mixes gain more, see benchmarks/).
        stage = _stage(train={"vision_tower": "frozen", "multi_modal_projector": "full", "language_model": "full"},
                       packing=packing, max_length=512, report_to=["tensorboard"], group_by_length=False,
                       batch_size=8)
        out = tmp_path / f"packing-{packing}"
        run_stage(recipe, stage, model, processor, _questions(data), out)
        history = json.loads((out / "log_history.json").read_text())
        values = [h["padding_fraction"] for h in history if "padding_fraction" in h]
        fractions[packing] = sum(values) / len(values)
        assert list((out / "logs").rglob("events.out.tfevents.*")), "TensorBoard event files"
    assert fractions[True] < fractions[False], fractions


def test_a_packed_step_is_the_unpacked_step(data, tmp_path):
    """samples_per_step counts samples with and without packing: the same 8 samples per optimizer
    step (2 micro-batches of 4, or packed rows dealt to 2 micro-batches) give the same loss and
    gradient norm at every step, and as many steps."""
    recipe = load_recipe(shipped_recipe("tiny"))
    runs = {}
    for packing in (False, True):
        model, processor = build_llava(recipe.model, seed=0)
        stage = _stage(train={"vision_tower": "frozen", "multi_modal_projector": "full", "language_model": "full"},
                       packing=packing, max_length=512, group_by_length=False, batch_size=4, samples_per_step=8,
                       precision="fp32")
        out = tmp_path / f"packing-{packing}"
        run_stage(recipe, stage, model, processor, _questions(data), out)
        runs[packing] = [h for h in json.loads((out / "log_history.json").read_text()) if "loss" in h]
        summary = json.loads((out / "training_summary.json").read_text())
        assert summary["samples_per_step"] == 8 and summary["gradient_accumulation_steps"] == 2
        assert summary["steps"] == -(-summary["samples"] // 8)
    assert len(runs[True]) == len(runs[False]) > 2
    for unpacked, packed in zip(runs[False], runs[True]):
        assert packed["loss"] == pytest.approx(unpacked["loss"], rel=1e-4)
        assert packed["grad_norm"] == pytest.approx(unpacked["grad_norm"], rel=1e-3)


def test_packed_steps_hold_every_sample_once_in_order():
    from scitune.train.steps import PackedSteps, StepPlan

    class Lengths(torch.utils.data.Dataset):
        def __init__(self, lengths):
            self.values = lengths

        def lengths(self):
            return self.values

        def __len__(self):
            return len(self.values)

    lengths = [50 + (37 * i) % 300 for i in range(45)]
    order = list(range(45))[::-1]
    steps = PackedSteps(Lengths(lengths), order, StepPlan(samples_per_step=16, accumulation=2, world=2),
                        max_length=512)
    assert steps.step_samples == [16, 16, 13]  # 45 = 16 + 16 + 13: a last step of 13 ≥ 4 micro-batches
    assert len(steps) == 3 * 4, "each step is accumulation × world micro-batches"
    for number, size in enumerate(steps.step_samples):
        start = sum(steps.step_samples[:number])
        held = sorted(i for rows in steps.items[number * 4:(number + 1) * 4] for row in rows for i in row)
        assert held == sorted(order[start:start + size]), "a step holds exactly its samples of the order"
        assert all(rows for rows in steps.items[number * 4:(number + 1) * 4]), "no micro-batch is empty"
    assert all(sum(lengths[i] for i in row) <= 512 for rows in steps.items for row in rows)
    # Rows are filled evenly, so padding each micro-batch to its longest row wastes little (≈1% here).
    computed = sum(len(rows) * max(sum(lengths[i] for i in row) for row in rows) for rows in steps.items)
    assert 1 - sum(lengths) / computed < 0.03
    short = PackedSteps(Lengths(lengths[:35]), list(range(35)), StepPlan(16, 2, 2), max_length=512)
    assert short.step_samples == [16, 19], "a last step of 3 < 4 micro-batches joins the one before"
    with pytest.raises(ValueError, match="cannot fill the 4 micro-batches"):
        PackedSteps(Lengths([10, 10, 10]), [0, 1, 2], StepPlan(16, 2, 2), max_length=512)


def test_samples_per_step_sets_the_accumulation():
    from scitune.train.steps import step_plan

    stage = _stage(batch_size=16, samples_per_step=128)
    assert (step_plan(stage, 8).accumulation, step_plan(stage, 1).accumulation) == (1, 8)
    assert step_plan(_stage(batch_size=4, gradient_accumulation_steps=2), 3).samples_per_step == 24
    with pytest.raises(ValueError, match="not a multiple of batch_size 16 × 3 process"):
        step_plan(stage, 3)
    with pytest.raises(ValueError, match="set samples_per_step or gradient_accumulation_steps"):
        _stage(batch_size=16, samples_per_step=128, gradient_accumulation_steps=2)
    # A resolved recipe repeats the default accumulation beside samples_per_step: it loads again.
    assert step_plan(_stage(batch_size=16, samples_per_step=128, gradient_accumulation_steps=1), 2).accumulation == 4


def test_weight_decay_spares_biases_and_norms(tiny_model_config):
    """As in HF's Trainer: with zero gradients, AdamW's decay alone moves the weights; biases and
    norm weights must not shrink."""
    from scitune.train.freeze import apply_freezing, optimizer_for

    model, _ = build_llava(tiny_model_config, seed=0)
    stage = _stage(train={"vision_tower": "full", "multi_modal_projector": "full", "language_model": "full"},
                   learning_rate=0.1, weight_decay=0.5)
    apply_freezing(model, stage)
    optimizer = optimizer_for(model, stage)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    for parameter in model.parameters():
        parameter.grad = torch.zeros_like(parameter)
    optimizer.step()
    spared = [name for name in before if name.endswith("bias") or "norm" in name]
    assert len(spared) > 10
    for name, parameter in model.named_parameters():
        expected = before[name] if name in spared else before[name] * (1 - 0.1 * 0.5)
        assert torch.allclose(parameter, expected), name


def test_the_trainer_builds_the_optimizer_in_its_hook(tiny_model_config, tmp_path):
    """Under FSDP, Trainer refuses an optimizer passed in; ours is built by its create_optimizer hook,
    after wrapping, with the per-module learning rates and the decay split."""
    from transformers import TrainingArguments

    from scitune.train.freeze import apply_freezing
    from scitune.train.stage import StageTrainer

    model, _ = build_llava(tiny_model_config, seed=0)
    stage = _stage(train={"vision_tower": "full", "multi_modal_projector": "full", "language_model": "frozen"},
                   learning_rate=1e-3, module_learning_rates={"vision_tower": 5e-4}, weight_decay=0.1)
    apply_freezing(model, stage)
    trainer = StageTrainer(model=model, stage=stage, args=TrainingArguments(output_dir=str(tmp_path), report_to=[],
                                                                            use_cpu=True))
    assert trainer.optimizer is None
    groups = {(g["name"], g["decay"]): (g["lr"], g["weight_decay"]) for g in trainer.create_optimizer().param_groups}
    assert groups == {("vision_tower", True): (5e-4, 0.1), ("vision_tower", False): (5e-4, 0.0),
                      ("multi_modal_projector", True): (1e-3, 0.1), ("multi_modal_projector", False): (1e-3, 0.0)}


def test_on_a_cpu_the_trainer_uses_the_fused_adamw_with_the_same_update(tiny_model_config, tmp_path):
    """The stage's optimizer on a CPU is torch's fused AdamW (the default per-tensor loop is several
    times slower there); one step of it moves every weight as the per-tensor AdamW does."""
    import copy

    from transformers import TrainingArguments

    from scitune.train.freeze import apply_freezing, parameter_groups
    from scitune.train.stage import StageTrainer, optimizer_name

    model, _ = build_llava(tiny_model_config, seed=0)
    stage = _stage(train={"vision_tower": "frozen", "multi_modal_projector": "full", "language_model": "full"},
                   learning_rate=1e-2, weight_decay=0.1)
    apply_freezing(model, stage)
    reference = copy.deepcopy(model)
    args = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True, optim=optimizer_name(False),
                             weight_decay=0.1)
    fused = StageTrainer(model=model, stage=stage, args=args).create_optimizer()
    assert all(group["fused"] for group in fused.param_groups)
    loop = torch.optim.AdamW(parameter_groups(reference, stage), lr=1e-2, weight_decay=0.1, foreach=False)
    torch.manual_seed(0)
    for net, optimizer in ((model, fused), (reference, loop)):
        torch.manual_seed(0)
        for parameter in net.parameters():
            if parameter.requires_grad:
                parameter.grad = torch.randn_like(parameter)
        optimizer.step()
    moved = 0
    for (name, a), b in zip(model.named_parameters(), reference.parameters()):
        assert torch.allclose(a, b, atol=1e-6), name
        moved += a.requires_grad
    assert moved > 10


def test_text_only_samples_are_rejected_when_only_the_image_path_trains(data, tmp_path):
    recipe = load_recipe(shipped_recipe("tiny"))
    model, processor = build_llava(recipe.model, seed=0)
    stage = _stage(train={"vision_tower": "full", "multi_modal_projector": "full", "language_model": "frozen"},
                   batch_size=2)
    run_stage(recipe, stage, model, processor, _questions(data), tmp_path / "s")
    rejected = [json.loads(line) for line in (tmp_path / "s" / "rejected.jsonl").read_text().splitlines()]
    assert rejected and all("no image, and the language model is frozen" in r["reason"] for r in rejected)


def test_training_samples_with_missing_images_are_quarantined(data, tmp_path):
    from scitune.contracts import Instruction, read_jsonl
    from scitune.model.chat import chat_format

    recipe = load_recipe(shipped_recipe("tiny"))
    _, processor = build_llava(recipe.model, seed=0)
    items = list(read_jsonl(data / "questions.jsonl", Instruction))
    with_image = [i for i in items if i.image]
    escaped = Instruction.model_validate({**with_image[1].to_json(), "id": "escape", "image": "../../etc/passwd"})
    moved = Instruction.model_validate({**with_image[0].to_json(), "id": "moved", "image": "images/nowhere.png"})
    dataset = InstructionDataset([*items, escaped, moved], Encoder(processor, chat_format(processor.tokenizer), ""),
                                 data / "corpus", 512)
    reasons = {r.id: (r.kind, r.reason) for r in dataset.rejected}
    assert reasons["moved"][0] == "missing_image" and "does not exist" in reasons["moved"][1]
    assert reasons["escape"][0] == "outside_image_root" and "outside the image root" in reasons["escape"][1]
    assert len(dataset) == len(items)
