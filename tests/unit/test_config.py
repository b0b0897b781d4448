from pathlib import Path

import pytest

from scitune.config import RecipeError, load_recipe

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_every_shipped_recipe_loads_and_validates(path):
    recipe = load_recipe(path)
    assert recipe.stages, "a recipe without stages trains nothing"
    assert recipe.stages[0].train["language_model"] == "frozen", "stage 1 aligns concepts with the LM frozen"


def _write(tmp_path, text):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return path


BASE = """
name: t
output_dir: out
stages:
  - name: s1
    data: figures
    train: {vision_tower: frozen, multi_modal_projector: full, language_model: frozen}
    learning_rate: 1.0e-3
"""


def test_unknown_key_is_named(tmp_path):
    with pytest.raises(RecipeError, match=r"stages\.0\.learnign_rate"):
        load_recipe(_write(tmp_path, BASE.replace("learning_rate: 1.0e-3", "learning_rate: 1.0e-3\n    learnign_rate: 2")))


def test_wrong_type_is_named(tmp_path):
    with pytest.raises(RecipeError, match=r"stages\.0\.epochs"):
        load_recipe(_write(tmp_path, BASE + "    epochs: many\n"))


def test_stage_that_trains_nothing_fails_before_work(tmp_path):
    with pytest.raises(RecipeError, match="trains nothing"):
        load_recipe(_write(tmp_path, BASE.replace("multi_modal_projector: full", "multi_modal_projector: frozen")))


def test_missing_module_setting_is_named(tmp_path):
    with pytest.raises(RecipeError, match="vision_tower"):
        load_recipe(_write(tmp_path, BASE.replace("vision_tower: frozen, ", "")))


def test_impossible_vision_shape(tmp_path):
    text = BASE + "model:\n  vision: {image_size: 30, patch_size: 16}\n"
    with pytest.raises(RecipeError, match="not a multiple of patch_size"):
        load_recipe(_write(tmp_path, text))


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(RecipeError, match="does not exist"):
        load_recipe(tmp_path / "nope.yaml")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(_write(tmp_path, "name: [unclosed"))


def test_dotted_overrides_are_typed(tmp_path):
    recipe = load_recipe(_write(tmp_path, BASE), ["stages.0.learning_rate=5e-4", "curate.components=CT", "seed=7"])
    assert recipe.stages[0].learning_rate == 5e-4
    assert recipe.curate.components == "CT"
    assert recipe.seed == 7
    with pytest.raises(RecipeError, match="components"):
        load_recipe(_write(tmp_path, BASE), ["curate.components=CX"])
    with pytest.raises(RecipeError, match="key.path=value"):
        load_recipe(_write(tmp_path, BASE), ["seed"])
