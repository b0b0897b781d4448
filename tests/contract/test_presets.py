"""Every real preset's wiring, with random weights in the preset's own widths at depth 1: the
processor expands <image> into the number of tokens the tower produces, and a training step's loss
is finite (no hub download: shapes come from the presets table)."""

import pytest
import torch
from PIL import Image
from transformers import AutoModelForCausalLM, AutoTokenizer

from scitune.config import ModelConfig
from scitune.model.embedded import embedded_lm_folder
from scitune.model.presets import shape_configs
from scitune.presets import PRESETS

pytestmark = pytest.mark.slow

EXPECTED_IMAGE_TOKENS = {"scitune-llama2-13b": 256, "scitune-llama2-7b": 256, "llava-1.5-7b": 576,
                         "small-modern": 196}


def test_presets_fill_the_recipe_and_explicit_fields_win():
    cfg = ModelConfig(preset="scitune-llama2-13b")
    assert (cfg.language_model, cfg.vision.pretrained) == ("meta-llama/Llama-2-13b-hf", "openai/clip-vit-large-patch14")
    assert (cfg.vision_feature_layer, cfg.vision_feature_select_strategy) == (-2, "default")
    assert ModelConfig(preset="small-modern", vision_feature_layer=-3).vision_feature_layer == -3
    with pytest.raises(ValueError, match="unknown preset"):
        ModelConfig(preset="gpt-5")


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_wiring_with_random_weights(name):
    from scitune.model.build import assemble

    tokenizer = AutoTokenizer.from_pretrained(embedded_lm_folder())
    text_config, vision_config = shape_configs(name, lm_layers=1, vision_layers=1, vocab_size=len(tokenizer))
    torch.manual_seed(0)
    lm = AutoModelForCausalLM.from_config(text_config, dtype=torch.bfloat16)
    model, processor = assemble(lm, tokenizer, vision_config, ModelConfig(preset=name))
    assert model.config.text_config.hidden_size == PRESETS[name].lm_shape["hidden_size"]
    assert model.config.vision_config.hidden_size == PRESETS[name].vision_shape["hidden_size"]
    side = vision_config.image_size
    inputs = processor(text="<image>\nWhich type of figure is this?", images=Image.new("RGB", (side + 30, side)),
                       return_tensors="pt")
    image_tokens = int((inputs["input_ids"] == model.config.image_token_id).sum())
    assert image_tokens == EXPECTED_IMAGE_TOKENS[name] == model.config.image_seq_length
    with torch.no_grad():
        out = model(**{k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in inputs.items()},
                    labels=inputs["input_ids"])
    assert torch.isfinite(out.loss)
