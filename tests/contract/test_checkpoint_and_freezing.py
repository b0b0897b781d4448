"""Checkpoints load with plain transformers; freezing trains exactly the modules a stage names."""

import pytest
import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor

from scitune.config import StageConfig
from scitune.model.build import load_llava
from scitune.train.freeze import apply_freezing, module_of, optimizer_for


def test_checkpoint_reloads_with_plain_transformers(tiny_llava, tmp_path):
    model, processor = tiny_llava
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    plain = AutoModelForImageTextToText.from_pretrained(tmp_path)
    plain_processor = AutoProcessor.from_pretrained(tmp_path)
    inputs = plain_processor(text="<image>\nhello", images=Image.new("RGB", (32, 32)), return_tensors="pt")
    model.eval()
    with torch.no_grad():
        assert torch.allclose(plain(**inputs).logits, model(**inputs).logits, atol=1e-5)


def test_loading_a_folder_that_is_not_llava_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no config.json"):
        load_llava(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(ValueError, match="'llama' model, not a Llava model"):
        load_llava(tmp_path)


def test_stage1_updates_projector_and_tower_but_not_the_lm(tiny_model_config):
    from scitune.model.build import build_llava

    model, processor = build_llava(tiny_model_config, seed=1)
    stage = StageConfig(name="s1", data="figures", learning_rate=1e-2,
                        train={"vision_tower": "full", "multi_modal_projector": "full", "language_model": "frozen"})
    counts = apply_freezing(model, stage)
    assert counts["language_model"] == 0 and counts["multi_modal_projector"] > 0
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    inputs = processor(text="<image>\nwhat is it? bar chart", images=Image.new("RGB", (32, 32)), return_tensors="pt")
    optimizer = optimizer_for(model, stage)
    model(**inputs, labels=inputs["input_ids"]).loss.backward()
    optimizer.step()
    changed = {module_of(n) for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed == {"vision_tower", "multi_modal_projector"}
    assert {g["name"] for g in optimizer.param_groups} == {"vision_tower", "multi_modal_projector"}


def test_same_seed_same_model_whether_or_not_loading_drew_random_numbers(tiny_model_config, monkeypatch):
    """The embedded LM's first conversion draws random numbers (it builds a model); the assembled
    model must be the same as on later runs, which read the cached copy."""
    from scitune.model import build

    first, _ = build.build_llava(tiny_model_config, seed=4)
    original = build.load_language_model

    def converting(*args, **kwargs):
        loaded = original(*args, **kwargs)
        torch.rand(1000)  # what a first-time conversion does to the global RNG
        return loaded

    monkeypatch.setattr(build, "load_language_model", converting)
    second, _ = build.build_llava(tiny_model_config, seed=4)
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(a, b), name
