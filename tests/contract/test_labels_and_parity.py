"""Our encoder + collator against hand-built calls of the transformers Llava classes."""

import pytest
import torch
from PIL import Image

from scitune.contracts import Instruction
from scitune.model.chat import chat_format
from scitune.model.encode import IGNORE_INDEX, Encoder
from scitune.train.data import Collator


def _instruction(image=True):
    return Instruction.model_validate({
        "id": "i1", "image": "img.png" if image else None, "source": {},
        "conversations": [
            {"from": "human", "value": ("<image>\n" if image else "") + "Which type of figure is this?"},
            {"from": "gpt", "value": "bar chart"},
            {"from": "human", "value": "And its unit?"},
            {"from": "gpt", "value": "kelvin"},
        ],
    })


@pytest.fixture(scope="module")
def encoder(tiny_llava):
    _, processor = tiny_llava
    return Encoder(processor, chat_format(processor.tokenizer), "You are a test.")


def test_only_assistant_turns_are_supervised(encoder):
    encoded = encoder.encode(_instruction())
    supervised = [t for t, label in zip(encoded.input_ids, encoded.labels) if label != IGNORE_INDEX]
    text = encoder.tokenizer.decode(supervised)
    assert text == "bar chart<|im_end|>\nkelvin<|im_end|>\n"
    assert all(label in (IGNORE_INDEX, token) for token, label in zip(encoded.input_ids, encoded.labels))


def test_image_placeholder_expands_to_the_processors_count(encoder, tiny_llava):
    model, processor = tiny_llava
    encoded = encoder.encode(_instruction())
    assert encoded.input_ids.count(model.config.image_token_id) == encoder.image_tokens == 4  # (32/16)²
    reference = processor(text="<image>", images=Image.new("RGB", (32, 32)), add_special_tokens=False)
    assert len(reference["input_ids"][0]) == encoder.image_tokens


def test_generation_prompt_is_the_training_prefix(encoder):
    instruction = _instruction(image=False)
    prompt = encoder.encode_prompt(instruction)
    full = encoder.encode(instruction).input_ids
    assert full[: len(prompt)] == prompt, "inference must see exactly what training saw before the answer"


def test_loss_matches_a_hand_built_llava_call(encoder, tiny_llava):
    model, processor = tiny_llava
    model.eval()
    image = Image.new("RGB", (40, 40), "white")
    encoded = encoder.encode(_instruction())
    pixels = processor.image_processor(image, return_tensors="pt")["pixel_values"][0]
    batch = Collator(processor.tokenizer.pad_token_id)([
        {"input_ids": encoded.input_ids, "labels": encoded.labels, "pixel_values": pixels},
    ])
    ours = model(**batch).loss

    # By hand: the processor expands <image>, and we supervise the assistant words ourselves.
    chat = chat_format(processor.tokenizer)
    text = (chat.render_system("You are a test.") + chat.render_user("<image>\nWhich type of figure is this?")
            + chat.assistant_prefix + "bar chart" + chat.assistant_suffix + chat.render_user("And its unit?")
            + chat.assistant_prefix + "kelvin" + chat.assistant_suffix)
    inputs = processor(text=text, images=image, return_tensors="pt", add_special_tokens=False)
    assert inputs["input_ids"][0].tolist() == encoded.input_ids
    labels = torch.tensor([encoded.labels])
    with torch.no_grad():
        logits = model(input_ids=inputs["input_ids"], pixel_values=inputs["pixel_values"]).logits
    reference = torch.nn.functional.cross_entropy(logits[0, :-1], labels[0, 1:], ignore_index=IGNORE_INDEX)
    assert torch.allclose(ours, reference, atol=1e-5)


def test_wrong_image_token_count_is_refused_by_the_model(encoder, tiny_llava):
    model, processor = tiny_llava
    encoded = encoder.encode(_instruction())
    ids = [t for t in encoded.input_ids]
    ids.remove(model.config.image_token_id)  # one image token short
    pixels = processor.image_processor(Image.new("RGB", (32, 32)), return_tensors="pt")["pixel_values"]
    with pytest.raises(ValueError, match="(?i)image"):
        model(input_ids=torch.tensor([ids]), pixel_values=pixels)


def test_loss_is_normalised_by_supervised_tokens_across_the_accumulated_step(encoder, tiny_llava, tmp_path):
    """Trainer passes `num_items_in_batch` (supervised tokens of the whole accumulated step) to the
    Llava loss; a short sample then weighs per token, not per sample."""
    from transformers import Trainer, TrainingArguments

    model, processor = tiny_llava
    model.eval()
    short = encoder.encode(_instruction(image=False))
    batch = Collator(processor.tokenizer.pad_token_id)([{"input_ids": short.input_ids, "labels": short.labels}])
    supervised = sum(label != IGNORE_INDEX for label in short.labels[1:])  # labels are shifted by one
    with torch.no_grad():
        mean = model(**batch).loss
        summed = model(**batch, num_items_in_batch=torch.tensor(100)).loss
    assert torch.allclose(summed * 100, mean * supervised, rtol=1e-4)
    args = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True, gradient_accumulation_steps=2)
    assert Trainer(model=model, args=args).model_accepts_loss_kwargs


def test_config_image_seq_length_is_what_the_processor_expands(encoder, tiny_llava):
    model, _ = tiny_llava
    assert model.config.image_seq_length == encoder.image_tokens
