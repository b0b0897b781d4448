"""Generation: the same answers at batch size 1 and 16, byte for byte, and resumable files."""

import json

import torch

from scitune.contracts import Instruction, Prediction, read_jsonl
from scitune.curate.scienceqa import problem_instructions
from scitune.evaluate.predict import predict
from scitune.sources.demo import generate_corpus


def _varied(built):
    """A freshly initialised LM says the same token whatever it is asked; larger random weights make
    its answers depend on the prompt and the image, so a padding or batching leak would show."""
    model, processor = built
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
    return model, processor


def test_batch_size_does_not_change_answers(tiny_model_config, tmp_path):
    from scitune.model.build import build_llava

    model, processor = _varied(build_llava(tiny_model_config, seed=7))
    _, problems = generate_corpus(tmp_path / "corpus", 3, 0.3, 64, seed=2)
    items = list(problem_instructions(problems[:24], "QCM-LEPA"))  # image and text-only questions mixed
    texts = {}
    for batch_size in (1, 16):
        out = tmp_path / f"bs{batch_size}.jsonl"
        predict(model, processor, items, tmp_path / "corpus", out, "", "tiny", 12, batch_size)
        texts[batch_size] = {p.id: p.text for p in read_jsonl(out, Prediction)}
    assert len(texts[1]) == 24
    assert texts[1] == texts[16]
    assert len(set(texts[1].values())) > 1, "a model that says the same thing to everything tests nothing"


def test_interrupted_predictions_resume_without_duplicates(tiny_llava, tmp_path):
    model, processor = tiny_llava
    _, problems = generate_corpus(tmp_path / "corpus", 2, 0.3, 64, seed=2)
    items = list(problem_instructions(problems[:10], "QCM-A"))
    out = tmp_path / "pred.jsonl"
    predict(model, processor, items[:4], tmp_path / "corpus", out, "", "tiny", 4, 2)
    with out.open("a") as handle:
        handle.write('{"id": "torn')  # killed in the middle of a line
    predict(model, processor, items, tmp_path / "corpus", out, "", "tiny", 4, 2)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(line["id"] for line in lines) == sorted(item.id for item in items)
    assert all(line["decoding"] == {"do_sample": False, "max_new_tokens": 4, "system_prompt": ""} for line in lines)


def test_missing_image_fails_only_its_item(tiny_llava, tmp_path):
    model, processor = tiny_llava
    _, problems = generate_corpus(tmp_path / "corpus", 2, 0.3, 64, seed=2)
    items = [i for i in problem_instructions(problems[:6], "QCM-A")]
    with_image = next(i for i in items if i.image)
    (tmp_path / "corpus" / with_image.image).unlink()
    out = tmp_path / "pred.jsonl"
    predict(model, processor, items, tmp_path / "corpus", out, "", "tiny", 4, 4)
    results = {p.id: p for p in read_jsonl(out, Prediction)}
    sharing = [i.id for i in items if i.image == with_image.image]  # a figure's questions share its image
    assert all("does not exist" in results[i].error and results[i].text == "" for i in sharing)
    assert sum(p.error is None for p in results.values()) == len(items) - len(sharing) > 0


def test_prompt_longer_than_the_context_fails_only_its_item(tiny_llava, tmp_path):
    model, processor = tiny_llava
    _, problems = generate_corpus(tmp_path / "corpus", 2, 0.3, 64, seed=2)
    items = list(problem_instructions(problems[:4], "QCM-A"))
    data = items[0].to_json()
    data["id"] = "long"
    data["conversations"][0]["value"] += " word" * model.config.text_config.max_position_embeddings
    long = Instruction.model_validate(data)
    out = tmp_path / "pred.jsonl"
    predict(model, processor, [long, *items], tmp_path / "corpus", out, "", "tiny", 4, 8)
    results = {p.id: p for p in read_jsonl(out, Prediction)}
    assert "exceeds the model's context of 2048 tokens" in results["long"].error
    assert results["long"].error.startswith("long:")
    assert all(results[i.id].error is None for i in items)


def test_two_pass_asks_for_the_answer_after_the_reasoning(tiny_model_config, tmp_path):
    from scitune.model.build import build_llava

    model, processor = _varied(build_llava(tiny_model_config, seed=7))
    _, problems = generate_corpus(tmp_path / "corpus", 2, 0.3, 64, seed=2)
    items = list(problem_instructions(problems[:6], "QCM-LEPA"))
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    predict(model, processor, items, tmp_path / "corpus", one, "", "tiny", 10, 4)
    predict(model, processor, items, tmp_path / "corpus", two, "", "tiny", 10, 4, answer_prompter="\n###\nANSWER:",
            answer_tokens=3)
    first = {p.id: p for p in read_jsonl(one, Prediction)}
    second = {p.id: p for p in read_jsonl(two, Prediction)}
    for item in items:
        reasoning = first[item.id].text.split("###")[0].split("ANSWER:")[0].rstrip()
        assert second[item.id].text.startswith(reasoning + "\n###\nANSWER: "), "the first pass is kept verbatim"
        assert second[item.id].decoding["answer_prompter"] == "\n###\nANSWER:"
    # Batch size still does not matter with the second pass.
    again = tmp_path / "again.jsonl"
    predict(model, processor, items, tmp_path / "corpus", again, "", "tiny", 10, 1, answer_prompter="\n###\nANSWER:",
            answer_tokens=3)
    assert {p.id: p.text for p in read_jsonl(again, Prediction)} == {k: v.text for k, v in second.items()}


def test_the_stop_rule_is_the_checkpoints(tiny_llava, tiny_model_config):
    """EOS, the generation config's EOS ids, the template's end-of-turn token when it is another
    token, and the text that opens the template's next turn."""
    import copy

    from scitune.model.build import build_llava
    from scitune.model.generate import stop_rule

    model, processor = tiny_llava
    eos = processor.tokenizer.eos_token_id
    assert stop_rule(processor, model).token_ids == (eos,) and stop_rule(processor).strings == ()
    other = copy.deepcopy(processor)
    other.tokenizer.eos_token = "<|endoftext|>"  # a ChatML template whose turns end with another token
    rule = stop_rule(other)
    assert rule.token_ids == (other.tokenizer.convert_tokens_to_ids("<|endoftext|>"), eos)
    vicuna = build_llava(tiny_model_config.model_copy(update={"chat_template": "vicuna_v1"}))[1]
    assert stop_rule(vicuna).strings == ("USER:",)


def test_a_made_up_next_turn_is_cut(tiny_model_config):
    """A model that writes the next user turn instead of its EOS is cut where that turn begins,
    and the row ends with the EOS as if the turn had ended there."""
    from scitune.model.build import build_llava
    from scitune.model.generate import _cut, stop_rule

    processor = build_llava(tiny_model_config.model_copy(update={"chat_template": "vicuna_v1"}))[1]
    tokenizer, rule = processor.tokenizer, stop_rule(processor)
    ids = tokenizer(" The answer is B. USER: and now", add_special_tokens=False)["input_ids"]
    cut = _cut(ids, rule, tokenizer)
    assert tokenizer.decode(cut, skip_special_tokens=True).strip() == "The answer is B."
    assert cut[-1] == tokenizer.eos_token_id
    ended = _cut(ids[:3] + [tokenizer.eos_token_id] + ids[3:], rule, tokenizer)
    assert ended == ids[:3] + [tokenizer.eos_token_id], "an EOS ends the row first"
    assert _cut(ids[:4], rule, tokenizer) == ids[:4], "no stop: the row is kept whole"
