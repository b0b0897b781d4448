"""Caption metrics come from the libraries (sacrebleu, rouge-score, pycocoevalcap) and rank answers sensibly."""

import pytest
from sacrebleu.metrics import BLEU

from scitune.contracts import Instruction, Prediction
from scitune.evaluate.captions import caption_metrics, cider_tokens
from scitune.evaluate.figures import score_figures

REFS = {
    "a": ["Mean accuracy of three models on the test set."],
    "b": ["Training loss over ten epochs for both optimizers."],
    "c": ["A table of results on four benchmarks."],
}


def test_identical_captions_score_the_maximum_and_unrelated_ones_zero():
    same = caption_metrics(REFS, {k: v[0] for k, v in REFS.items()})
    assert (same["bleu4"], same["rougeL"], same["cider"]) == (100.0, 100.0, 1000.0)
    unrelated = caption_metrics(REFS, {"a": "banana bread", "b": "river delta", "c": "quiet owl"})
    assert (unrelated["bleu4"], unrelated["rougeL"], unrelated["cider"]) == (0.0, 0.0, 0.0)


def test_closer_captions_score_higher_on_every_metric():
    near = caption_metrics(REFS, {"a": "Mean accuracy of three models.", "b": "Training loss over ten epochs.",
                                  "c": "A table of results."})
    far = caption_metrics(REFS, {"a": "Accuracy of models.", "b": "Loss.", "c": "Results."})
    assert near["bleu4"] > far["bleu4"] and near["rougeL"] > far["rougeL"] and near["cider"] > far["cider"]


def test_bleu_is_sacrebleus_corpus_score_and_missing_answers_count_as_empty():
    hyps = {"a": "Mean accuracy of three models on the set.", "b": "Training loss over epochs for optimizers."}
    result = caption_metrics(REFS, hyps)
    expected = BLEU().corpus_score([hyps["a"], hyps["b"], ""], [[r[0] for r in REFS.values()]]).score
    assert result["bleu4"] == pytest.approx(expected, abs=0.01)
    assert result["missing"] == 1 and result["count"] == 3


def test_cider_tokens_drop_punctuation_and_case():
    assert cider_tokens("Loss (MSE), vs. Epochs: 3.5!") == "loss mse vs epochs 3.5"


def _item(item_id, task, target):
    return Instruction(id=item_id, image=None, conversations=[{"from": "human", "value": "q"},
                                                              {"from": "gpt", "value": target}],
                       source={"task": task})


def test_figure_scores_use_the_caption_part_and_exact_type_labels():
    items = [_item("d1", "describe", "This figure is a table. Results on four benchmarks. Text in the figure: acc"),
             _item("t1", "figure_type", "table"), _item("t2", "figure_type", "bar chart")]
    said = [Prediction(id="d1", prompt="q", text="This figure is a table. Results on four benchmarks. Text in the "
                                                 "figure: something else entirely", model="m"),
            Prediction(id="t1", prompt="q", text="Table.", model="m"),
            Prediction(id="t2", prompt="q", text="a bar chart, I think", model="m")]
    result = score_figures(items, said, ["bar chart", "table"])
    assert result["captions"]["bleu4"] == 100.0, "OCR text differs, the caption part does not"
    assert result["full_text"]["bleu4"] < 100.0
    assert result["figure_types"]["accuracy"] == 50.0
    assert result["figure_types"]["confusion"]["bar chart"] == {"(other)": 1}
    assert result["figure_types"]["outcomes"] == {"t1": 1, "t2": 0}
