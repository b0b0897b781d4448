from pathlib import Path

import pytest

from scitune.config import RecipeError, load_recipe

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_every_shipped_recipe_loads_and_validates(path):
    recipe = load_recipe(path)
    assert recipe.stages, "a recipe without stages trains nothing"
    if recipe.corpus.has_figures:  # ScienceQA-only recipes tune the LM from their first stage
        assert recipe.stages[0].train["language_model"] == "frozen", "stage 1 aligns concepts with the LM frozen"


def _write(tmp_path, text):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return path


BASE = """
name: t
output_dir: out
corpus:
  demo: {}
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
    recipe = load_recipe(_write(tmp_path, BASE),
                         ["stages.0.learning_rate=5e-4", "curate.figures.components=CT", "seed=7"])
    assert recipe.stages[0].learning_rate == 5e-4
    assert recipe.curate.figures.components == "CT"
    assert recipe.seed == 7
    with pytest.raises(RecipeError, match="components"):
        load_recipe(_write(tmp_path, BASE), ["curate.figures.components=CX"])
    with pytest.raises(RecipeError, match="key.path=value"):
        load_recipe(_write(tmp_path, BASE), ["seed"])


def test_each_setting_is_declared_once():
    """Components, prompts per figure and the seed live in one place each: a recipe that sets them
    where an older layout had a second copy is refused, naming the field."""
    from scitune.config import CorpusConfig, FigureCurationConfig

    assert "seed" not in FigureCurationConfig.model_fields and "tokenizer" not in FigureCurationConfig.model_fields
    assert not {"components", "type_prompts_per_figure", "figure_curation"} & set(CorpusConfig.model_fields)


def test_sources_and_stage_data_must_agree(tmp_path):
    with pytest.raises(RecipeError, match="corpus"):
        load_recipe(_write(tmp_path, BASE.replace("  demo: {}", "  figures: {path: f.json}\n  demo: {}")))
    only_questions = BASE.replace("  demo: {}", "  problems: {paths: [p.json]}")
    with pytest.raises(RecipeError, match="trains on figures but the corpus has none"):
        load_recipe(_write(tmp_path, only_questions))
    recipe = load_recipe(_write(tmp_path, only_questions.replace("data: figures", "data: questions")
                                .replace("language_model: frozen", "language_model: full")))
    assert recipe.corpus.has_problems and not recipe.corpus.has_figures


def test_a_stage_may_mix_curated_sets_with_weights(tmp_path):
    text = BASE.replace("data: figures", "data: {questions: 1.0, figures: 0.3}").replace(
        "language_model: frozen", "language_model: full")
    assert load_recipe(_write(tmp_path, text)).stages[0].mixture == {"questions": 1.0, "figures": 0.3}
    with pytest.raises(RecipeError, match="positive"):
        load_recipe(_write(tmp_path, text.replace("figures: 0.3", "figures: 0")))


def test_evaluation_precision_as_trained_follows_the_last_stage(tmp_path):
    """`evaluate.dtype: as_trained` evaluates every checkpoint of the run in the last stage's precision;
    auto leaves the choice to `scitune predict`'s rule; a named dtype is used as it is."""
    from scitune.pipeline.evaluation import inference_dtype
    from scitune.train.stage import use_bf16

    def dtype(*overrides):
        return inference_dtype(load_recipe(_write(tmp_path, BASE), list(overrides)))

    assert dtype() == "auto"
    assert dtype("evaluate.dtype=as_trained", "stages.0.precision=bf16") == "bfloat16"
    assert dtype("evaluate.dtype=as_trained", "stages.0.precision=fp32") == "float32"
    assert dtype("evaluate.dtype=as_trained") == ("bfloat16" if use_bf16("auto") else "float32")
    assert dtype("evaluate.dtype=float32", "stages.0.precision=bf16") == "float32"
    with pytest.raises(RecipeError, match="evaluate.dtype"):
        load_recipe(_write(tmp_path, BASE), ["evaluate.dtype=int8"])
