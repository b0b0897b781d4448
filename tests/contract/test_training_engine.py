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
        # Packs fill max_length, so one pack per step is the usual setting: no padding at all.
        stage = _stage(train={"vision_tower": "frozen", "multi_modal_projector": "full", "language_model": "full"},
                       packing=packing, max_length=512, report_to=["tensorboard"], group_by_length=False,
                       batch_size=1 if packing else 4)
        out = tmp_path / f"packing-{packing}"
        run_stage(recipe, stage, model, processor, _questions(data), out)
        history = json.loads((out / "log_history.json").read_text())
        values = [h["padding_fraction"] for h in history if "padding_fraction" in h]
        fractions[packing] = sum(values) / len(values)
        assert list((out / "logs").rglob("events.out.tfevents.*")), "TensorBoard event files"
    assert fractions[True] == 0 < fractions[False], fractions


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
