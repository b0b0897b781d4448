"""Conversation templates for LMs without their own chat template (issue #15): the label mask of
every template, BOS as the tokenizer puts it, the generation prompt equal to the training prefix,
the template carried by the checkpoint, and a base LM that learns to stop."""

import json

import pytest
import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from scitune.config import ModelConfig, StageConfig, VisionConfig, load_recipe, shipped_recipe
from scitune.contracts import Instruction, write_jsonl
from scitune.model.build import build_llava, load_processor
from scitune.model.chat import chat_format
from scitune.model.embedded import embedded_lm_folder
from scitune.model.encode import IGNORE_INDEX, Encoder

VISION = VisionConfig(image_size=32, patch_size=16, hidden_size=32, num_hidden_layers=1, num_attention_heads=2)


def templateless_lm(folder, bos: bool):
    """A tiny random Llama whose tokenizer has no chat template (the embedded tokenizer with its
    template removed), adding a BOS when BOS is set, as Llama-2's does."""
    tokenizer = AutoTokenizer.from_pretrained(embedded_lm_folder(), add_bos_token=bos)
    tokenizer.chat_template = None
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module", params=[False, True], ids=["no-bos", "bos"])
def base_lm(request, tmp_path_factory):
    return templateless_lm(tmp_path_factory.mktemp("lm"), request.param), request.param


CASES = [("auto", "vicuna_v1"), ("vicuna_v1", "vicuna_v1"), ("llama_2", "llama_2")]


def _built(base_lm, choice):
    folder, bos = base_lm
    model, processor = build_llava(ModelConfig(language_model=str(folder), chat_template=choice, vision=VISION))
    return model, processor, bos


def _conversation(image=True):
    return Instruction.model_validate({"id": "c", "image": "f.png" if image else None, "source": {}, "conversations": [
        {"from": "human", "value": ("<image>\n" if image else "") + "Which type of figure is this?"},
        {"from": "gpt", "value": "bar chart"},
        {"from": "human", "value": "And its unit?"},
        {"from": "gpt", "value": "kelvin"}]})


def _runs(ids, labels):
    """The supervised stretches of a sample, as lists of token ids."""
    runs, current = [], []
    for token, label in zip(ids, labels):
        if label == IGNORE_INDEX:
            if current:
                runs.append(current)
            current = []
        else:
            assert label == token
            current.append(token)
    return runs + ([current] if current else [])


@pytest.mark.parametrize("choice, name", CASES)
def test_only_answers_and_their_eos_are_supervised(base_lm, choice, name):
    _, processor, _ = _built(base_lm, choice)
    tokenizer = processor.tokenizer
    chat = chat_format(processor)
    assert chat.name == name
    encoded = Encoder(processor, chat, "").encode(_conversation())
    runs = _runs(encoded.input_ids, encoded.labels)
    assert [tokenizer.decode(run) for run in runs] == [chat.render_answer("bar chart"), chat.render_answer("kelvin")]
    assert all(run[-1] == tokenizer.eos_token_id for run in runs), "every answer ends with the EOS, supervised"
    assert tokenizer.decode(runs[0]).endswith("bar chart" + chat.assistant_suffix)


@pytest.mark.parametrize("choice, name", CASES)
def test_bos_is_where_the_tokenizer_puts_it(base_lm, choice, name):
    _, processor, bos = _built(base_lm, choice)
    tokenizer = processor.tokenizer
    encoded = Encoder(processor, chat_format(processor), "You are a test.").encode(_conversation(image=False))
    own = tokenizer("x", add_special_tokens=True)["input_ids"]
    assert (encoded.input_ids[0] == tokenizer.bos_token_id) == bos == (own[0] == tokenizer.bos_token_id)
    assert encoded.labels[0] == IGNORE_INDEX
    starts = [i for i, token in enumerate(encoded.input_ids) if token == tokenizer.bos_token_id]
    # vicuna_v1 opens the conversation once; llama_2 opens every round with it, as LLaVA renders it.
    assert len(starts) == (0 if not bos else 1 if name == "vicuna_v1" else 2)


@pytest.mark.parametrize("choice, name", CASES)
def test_generation_prompt_is_the_training_prefix(base_lm, choice, name):
    _, processor, _ = _built(base_lm, choice)
    encoder = Encoder(processor, chat_format(processor), "You are a test.")
    conversation = _conversation(image=False)
    full = encoder.encode(conversation).input_ids
    first = encoder.encode_prompt(conversation)
    assert full[:len(first)] == first
    turns = [(t.from_, t.value) for t in conversation.conversations]
    second = encoder.encode_chat(turns[:3])
    assert full[:len(second)] == second, "a second-turn prompt is the training prefix too"
    answer = [label for label in encoder.encode(conversation).labels[len(first):]]
    assert answer[0] != IGNORE_INDEX, "the answer starts right after the prompt"


@pytest.mark.parametrize("choice, name", CASES)
def test_the_checkpoint_carries_the_template(base_lm, choice, name, tmp_path):
    _, processor, _ = _built(base_lm, choice)
    processor.save_pretrained(tmp_path)
    loaded = load_processor(tmp_path)
    chat = chat_format(loaded)
    assert chat == chat_format(processor) and chat.name == name
    messages = [{"role": "system", "content": "S"},
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Q1"}]},
                {"role": "assistant", "content": "A1"}, {"role": "user", "content": "Q2"}]
    rendered = loaded.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ours = "".join(text for text, _ in chat.segments("S", [("human", "<image>\nQ1"), ("gpt", "A1"), ("human", "Q2")],
                                                      generation=True))
    assert rendered == ours, "plain transformers renders what SciTune trains on"


def test_own_template_is_kept_and_a_chosen_one_overrides_it():
    _, processor = build_llava(ModelConfig(language_model="tiny", vision=VISION))
    assert chat_format(processor).name == "tokenizer"  # SmolLM2's ChatML
    _, forced = build_llava(ModelConfig(language_model="tiny", chat_template="llama_2", vision=VISION))
    assert chat_format(forced).name == "llama_2"


def test_presets_choose_llavas_template():
    assert ModelConfig(preset="scitune-llama2-7b").chat_template == "llama_2"
    assert ModelConfig(preset="llava-1.5-7b").chat_template == "vicuna_v1"
    assert ModelConfig(preset="small-modern").chat_template == "auto"
    assert ModelConfig(preset="llava-1.5-7b", chat_template="llama_2").chat_template == "llama_2"


@pytest.mark.slow
def test_a_base_lm_learns_to_stop(tmp_path):
    """A tiny random Llama whose tokenizer has no template, trained a few dozen steps on fixed
    answers, answers them and ends with EOS well before max_new_tokens; the checkpoint alone (no
    recipe) tells predict how to prompt and where to stop."""
    from scitune.curate.manifest import CuratedSet
    from scitune.model.build import load_for_inference
    from scitune.model.generate import generate_ids
    from scitune.train.stage import run_stage

    answers = ["bar chart", "a table of rainfall", "scatter plot", "kelvin", "the node diagram", "graph plot"]
    items = [Instruction.model_validate({"id": f"q{i}", "image": None, "source": {}, "conversations": [
        {"from": "human", "value": f"Question number {i}: what is it?"}, {"from": "gpt", "value": answer}]})
        for i, answer in enumerate(answers)]
    write_jsonl(tmp_path / "questions.jsonl", items)
    model, processor = build_llava(ModelConfig(language_model=str(templateless_lm(tmp_path / "lm", True)),
                                               vision=VISION))
    # lr 3e-3 for 60 steps converges (loss ~0.1) on every seed tried; 1e-2 for 40 stopped at loss ~1
    # and failed on one CPU model and not another (float rounding decides a run that has not converged).
    stage = StageConfig(name="s", data="questions", learning_rate=3e-3, epochs=60, batch_size=6, report_to=[],
                        save_steps=1000, logging_steps=10, warmup_ratio=0.0, lr_scheduler_type="constant",
                        train={"vision_tower": "frozen", "multi_modal_projector": "frozen", "language_model": "full"})
    final = run_stage(load_recipe(shipped_recipe("tiny")), stage, model, processor,
                      {"questions": CuratedSet(tmp_path / "questions.jsonl", None)}, tmp_path / "s")
    (final / "recipe.yaml").unlink()  # predict must not need the recipe
    trained, loaded = load_for_inference(final, "cpu", "float32")
    encoder = Encoder(loaded, chat_format(loaded), "")
    assert encoder.chat.name == "vicuna_v1"
    rows = generate_ids(trained, loaded, [(encoder.encode_prompt(item), None) for item in items], 40)
    eos = loaded.tokenizer.eos_token_id
    for row in rows:
        assert row[-1] == eos and len(row) < 12, (loaded.tokenizer.decode(row), len(row))
    texts = [loaded.tokenizer.decode(row, skip_special_tokens=True).strip() for row in rows]
    assert all(texts) and not any("USER" in text for text in texts), texts
    losses = [h["loss"] for h in json.loads((tmp_path / "s" / "log_history.json").read_text()) if "loss" in h]
    assert losses[-1] < losses[0] / 4, losses
    untrained, _ = build_llava(ModelConfig(language_model=str(tmp_path / "lm"), vision=VISION))
    never = generate_ids(untrained, loaded, [(encoder.encode_prompt(items[0]), None)], 40)[0]
    assert len(never) == 40 and eos not in never, "before training it does not stop: the test can fail"
