"""Every supported model family through the public path, as a released checkpoint would go: a tiny
random model of the family with its real processor, saved to a folder → loaded → one training step
per freezing mode → saved → reloaded with equal logits → predictions equal at batch 1 and 16 → one
served request. Plus the contracts the Llava path has: labels per message, the generation prompt
is the training prefix and the processor's own, exact packing or a refusal with the reason."""

import json
import random

import pytest
import torch
from PIL import Image

from scitune.config import StageConfig, load_recipe, shipped_recipe
from scitune.contracts import Instruction, Prediction, read_jsonl, write_jsonl
from scitune.curate.manifest import CuratedSet
from scitune.curate.scienceqa import problem_instructions
from scitune.model.build import load_for_inference, load_llava
from scitune.model.encode import IGNORE_INDEX
from scitune.model.families import FAMILIES, UnknownFamily, family, family_of
from scitune.model.template import TemplateEncoder, TemplateError, encoder_for
from scitune.model.tiny_families import TINY_FAMILIES, build_tiny, save_tiny
from scitune.sources.demo import generate_corpus
from scitune.train.freeze import module_of

CONVERSATION = [("human", "<image>\nWhich type of figure is this?"), ("gpt", "bar chart"),
                ("human", "And its unit?"), ("gpt", "kelvin")]
MESSAGES = [{"role": "system", "content": [{"type": "text", "text": "You are a test."}]},
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Which type of figure is this?"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "bar chart"}]},
            {"role": "user", "content": [{"type": "text", "text": "And its unit?"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "kelvin"}]}]


def _instruction(turns=CONVERSATION, image="img.png", item="i1"):
    return Instruction.model_validate({"id": item, "image": image, "source": {}, "conversations": [
        {"from": role, "value": text} for role, text in turns]})


def _processor_ids(processor, messages, image, generation=False):
    """The ids the family's own processor gives for its own chat template: the released model's view."""
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation)
    images = [[image]] if type(processor).__name__ == "Idefics3Processor" else [image]
    return processor(text=[text], images=images, add_special_tokens=False, return_tensors="pt")["input_ids"][0].tolist()


@pytest.fixture(scope="module", params=TINY_FAMILIES)
def tiny(request):
    model, processor = build_tiny(request.param, seed=1)
    return request.param, model, processor


# -- contracts, per family -------------------------------------------------------------------------
def test_every_family_has_a_tiny_builder():
    assert set(TINY_FAMILIES) == set(FAMILIES), "every family in the table is built and tested here"


def test_every_parameter_has_a_role_and_every_role_has_parameters(tiny):
    name, model, _ = tiny
    roles = {module_of(n, name) for n, _ in model.named_parameters()}
    assert roles == {"vision_tower", "multi_modal_projector", "language_model"}


def test_only_assistant_turns_and_their_end_of_turn_are_supervised(tiny):
    name, _, processor = tiny
    encoder = encoder_for(processor, "You are a test.")
    encoded = encoder.encode(_instruction(CONVERSATION), (100, 60))
    supervised = [t for t, label in zip(encoded.input_ids, encoded.labels) if label != IGNORE_INDEX]
    text = processor.tokenizer.decode(supervised)
    end = {"llava": "<|im_end|>", "llava_next": "<|im_end|>", "idefics3": "<end_of_utterance>\n",
           "gemma3": "<end_of_turn>\n"}.get(name, "<|im_end|>\n")
    lead = " " if name in ("idefics3", "llava", "llava_next") else ""  # 'ASSISTANT: bar chart' / 'Assistant: …'
    assert text == f"{lead}bar chart{end}{lead}kelvin{end}"
    assert all(label in (IGNORE_INDEX, token) for token, label in zip(encoded.input_ids, encoded.labels))


def test_generation_prompt_is_the_training_prefix_and_the_processors_own(tiny):
    name, _, processor = tiny
    encoder = encoder_for(processor, "You are a test.")
    image = Image.new("RGB", (100, 60), "red")
    instruction = _instruction(CONVERSATION)
    prompt = encoder.encode_prompt(instruction, image.size)
    assert encoder.encode(instruction, image.size).input_ids[: len(prompt)] == prompt
    assert prompt == _processor_ids(processor, MESSAGES[:2], image, generation=True), \
        "the released model must see what its own processor and chat template give it"


def test_whole_conversation_matches_the_processor_where_the_template_ends_turns(tiny):
    name, _, processor = tiny
    encoder = encoder_for(processor, "You are a test.")
    image = Image.new("RGB", (100, 60), "red")
    ids = encoder.encode(_instruction(CONVERSATION), image.size).input_ids
    if encoder.append_eos:  # LLaVA-1.5's template ends no turn: the EOS replaces the separator, as in LLaVA
        text, eos = processor.tokenizer.decode(ids), processor.tokenizer.eos_token
        assert f"ASSISTANT: bar chart{eos}USER: And its unit? ASSISTANT: kelvin{eos}" in text and text.endswith(eos)
    else:
        assert ids == _processor_ids(processor, MESSAGES, image)


def test_image_token_count_follows_the_image_size_where_the_family_resizes_dynamically(tiny):
    name, model, processor = tiny
    encoder = encoder_for(processor)
    square, wide = (encoder.encode(_instruction(), size).input_ids for size in ((40, 40), (150, 30)))
    assert encoder.dynamic == (name in ("llava_next", "qwen2_vl", "qwen2_5_vl", "idefics3"))
    assert (len(square) != len(wide)) == encoder.dynamic
    for size, ids in (((40, 40), square), ((150, 30), wide)):
        inputs = encoder.image_inputs(Image.new("RGB", size))
        batch = {"input_ids": torch.tensor([ids]), **inputs}
        if encoder.token_types:
            batch.update(encoder.token_types.of(batch["input_ids"]))
        with torch.no_grad():
            model(**batch)  # the model's own check of image tokens against image features passes


def test_a_wrong_image_token_count_is_refused_by_the_model(tiny):
    name, model, processor = tiny
    encoder = encoder_for(processor)
    image = Image.new("RGB", (64, 64))
    ids = encoder.encode(_instruction(), image.size).input_ids
    image_token = processor.tokenizer.convert_tokens_to_ids(processor.image_token)
    typed = encoder.token_types.token_id if encoder.token_types else None
    drop = typed if typed is not None else (model.config.image_token_id if hasattr(model.config, "image_token_id")
                                            else image_token)
    ids.remove(drop)  # one image token short
    batch = {"input_ids": torch.tensor([ids]), **encoder.image_inputs(image)}
    if encoder.token_types:
        batch.update(encoder.token_types.of(batch["input_ids"]))
    with pytest.raises((ValueError, RuntimeError, IndexError)):
        with torch.no_grad():
            model(**batch)


def test_packing_gives_the_unpacked_loss_or_is_refused_with_the_reason(tiny):
    from scitune.model.batching import rope_positions
    from scitune.train.data import Collator, PackedCollator
    from scitune.train.stage import packing_positions

    name, _, _ = tiny
    model, processor = build_tiny(name, seed=2, scale=0.3)  # varied weights: a leak across samples would show
    encoder = encoder_for(processor, "Be brief.")
    rng = random.Random(0)
    items = []
    for number in range(5):
        image = Image.new("RGB", (rng.choice([30, 64, 150]), rng.choice([30, 90])), (rng.randrange(255), 40, 90))
        turns = [("human", ("<image>\n" if number % 2 == 0 else "") + f"question {number} " + "x" * rng.randrange(30)),
                 ("gpt", "answer " * (number + 1))]
        encoded = encoder.encode(_instruction(turns, "a.png" if number % 2 == 0 else None), image.size
                                 if number % 2 == 0 else None)
        item = {"input_ids": encoded.input_ids, "labels": encoded.labels}
        if number % 2 == 0:
            item["image_inputs"] = encoder.image_inputs(image)
        items.append(item)

    def loss(batch):
        with torch.no_grad():
            logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits[:, :-1]
        return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch["labels"][:, 1:].reshape(-1),
                                                 ignore_index=IGNORE_INDEX, reduction="sum")

    pad = processor.tokenizer.pad_token_id
    alone = sum(loss(Collator(pad, token_types=encoder.token_types)([item])) for item in items)
    padded = loss(Collator(pad, token_types=encoder.token_types)(items))
    assert torch.allclose(padded, alone, rtol=1e-4)
    stage = StageConfig(name="s", data="questions", learning_rate=1e-3, packing=True,
                        train={"vision_tower": "frozen", "multi_modal_projector": "full", "language_model": "full"})
    if not family(name).packs_exactly:
        with pytest.raises(ValueError, match=f"packing is not exact for {name} models .*set packing: false"):
            packing_positions(model, stage)
        return
    packs = [{"samples": items[:3]}, {"samples": items[3:]}]
    collate = PackedCollator(pad, token_types=encoder.token_types, rope_positions=packing_positions(model, stage))
    assert torch.allclose(loss(collate(packs)), alone, rtol=1e-4)
    if family(name).packing == "mrope":  # the family's own positions are what makes it exact
        plain = PackedCollator(pad, token_types=encoder.token_types)
        assert not torch.allclose(loss(plain(packs)), alone, rtol=1e-4)
        assert rope_positions(model) is not None


# -- refusals ------------------------------------------------------------------------------------------
def test_an_unknown_family_is_refused_with_how_to_add_it(tmp_path):
    with pytest.raises(UnknownFamily, match="'mllama' models are not supported yet .*families.py.*tiny_families.py"):
        family("mllama")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "mllama"}))
    with pytest.raises(ValueError, match="'mllama' model, not a Llava model nor .*supported family"):
        load_llava(tmp_path)


def test_a_template_that_rewrites_earlier_turns_is_refused():
    _, processor = build_tiny("qwen2_vl")
    # Drops every earlier assistant answer once another turn follows (as some reasoning templates do).
    processor.chat_template = (
        "{% for m in messages %}{% if m['role'] == 'assistant' and not loop.last %}<|im_start|>assistant\n<|im_end|>\n"
        "{% else %}<|im_start|>{{ m['role'] }}\n{% for c in m['content'] %}{% if c['type'] == 'text' %}{{ c['text'] }}"
        "{% else %}<|vision_start|><|image_pad|><|vision_end|>{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    encoder = TemplateEncoder(processor)
    with pytest.raises(TemplateError, match="changes earlier text when turn 3"):
        encoder.encode(_instruction(CONVERSATION), (64, 64))


def test_a_processor_without_a_chat_template_is_refused():
    _, processor = build_tiny("gemma3")
    processor.chat_template = None
    processor.tokenizer.chat_template = None
    with pytest.raises(TemplateError, match="has no chat template"):
        TemplateEncoder(processor)


# -- the whole path, per family ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Demo questions (with and without images), their figures resized to many sizes, so that
    dynamic-resolution families see different image token counts in one batch."""
    folder = tmp_path_factory.mktemp("data")
    _, problems = generate_corpus(folder / "corpus", 2, 0.25, 64, seed=0)
    rng = random.Random(0)
    for path in sorted((folder / "corpus" / "images").glob("*.png")):
        Image.open(path).convert("RGB").resize((rng.choice([28, 48, 64, 100, 130]), rng.choice([28, 40, 80, 120]))).save(path)
    items = list(problem_instructions(problems, "QCM-A"))
    write_jsonl(folder / "questions.jsonl", items)
    return folder, items


MODES = {  # the freezing modes of SciTune's recipes, and a LoRA stage
    "projector": {"vision_tower": "frozen", "multi_modal_projector": "full", "language_model": "frozen"},
    "vision+projector": {"vision_tower": "full", "multi_modal_projector": "full", "language_model": "frozen"},
    "projector+lm": {"vision_tower": "frozen", "multi_modal_projector": "full", "language_model": "full"},
    "lora": {"vision_tower": "frozen", "multi_modal_projector": "full", "language_model": "lora"},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", TINY_FAMILIES)
def test_load_train_save_reload_predict_serve(name, data, tmp_path):
    from scitune.evaluate.predict import predict
    from scitune.serve.engine import Engine, Request
    from scitune.train.stage import run_stage

    folder, items = data
    released = save_tiny(name, tmp_path / "released", seed=3, scale=0.3)
    recipe = load_recipe(shipped_recipe("tiny"))
    trained = {}
    for mode, train in MODES.items():
        model, processor = load_llava(released)  # the training load path, whatever the family
        assert family_of(model).model_type == name
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        stage = StageConfig(name=mode.replace("+", "_"), data="questions", learning_rate=2e-3, epochs=0.2,
                            batch_size=4, report_to=[], save_steps=1000, logging_steps=1, train=train,
                            packing=family(name).packs_exactly and mode == "projector+lm", max_length=2048)
        final = run_stage(recipe, stage, model, processor, {"questions": CuratedSet(folder / "questions.jsonl",
                                                                                     folder / "corpus")},
                          tmp_path / stage.name)
        reloaded, _ = load_llava(final)
        after = dict(reloaded.named_parameters())
        changed = {module_of(n, name) for n in before if not torch.equal(before[n], after[n])}
        wanted = {role for role, how in train.items() if how != "frozen"}
        assert changed == wanted, f"{mode}: trained {changed}, expected {wanted}"
        trained[mode] = final
    final = trained["projector+lm"]
    # Saved and reloaded: the same logits as the weights the stage ended with.
    model, processor = load_llava(final)
    again, _ = load_llava(final)
    encoder = encoder_for(processor)
    image = Image.new("RGB", (90, 50), "blue")
    ids = torch.tensor([encoder.encode(_instruction(), image.size).input_ids])
    batch = {"input_ids": ids, **encoder.image_inputs(image), **(encoder.token_types.of(ids) if encoder.token_types
                                                                 else {})}
    with torch.no_grad():
        assert torch.allclose(model.eval()(**batch).logits, again.eval()(**batch).logits, atol=1e-5)
    # Predictions: the same answers at batch size 1 and 16, through the inference loading path.
    model, processor = load_for_inference(final, device="cpu", dtype="fp32")
    chosen = items[:20]
    texts = {}
    for size in (1, 16):
        out = tmp_path / f"bs{size}.jsonl"
        predict(model, processor, chosen, folder / "corpus", out, "", name, 8, size)
        texts[size] = {p.id: p.text for p in read_jsonl(out, Prediction)}
        assert not any(p.error for p in read_jsonl(out, Prediction))
    assert len(texts[1]) == len(chosen) and texts[1] == texts[16]
    assert len(set(texts[1].values())) > 1, "a model that says the same thing to everything tests nothing"
    # One served request: the answer `predict` gives to the same question.
    engine = Engine(final, device="cpu", dtype="fp32")
    assert engine.wait_ready(120), engine.error
    item = next(i for i in chosen if i.image)
    figure = Image.open(folder / "corpus" / item.image).convert("RGB")
    answer = engine.answer(Request(turns=[("human", item.conversations[0].value)], image=figure, max_tokens=8),
                           timeout=120)
    assert answer.text == texts[1][item.id]
