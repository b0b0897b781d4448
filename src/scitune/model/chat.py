"""The chat format around each message, shared by training and inference.

Derived from the LM tokenizer's own chat template when it has one (rendering a sentinel message
and reading off what the template puts around it), else a documented plain template. Training
tokenizes message by message with this object and generation builds prompts with it, so the two
can never drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

_SENTINEL = "\x00SCITUNE\x00"


@dataclass(frozen=True)
class ChatFormat:
    """Text placed around each message; `{}` in a wrapper is where the message content goes."""

    system: str
    user: str
    assistant_prefix: str
    assistant_suffix: str

    def render_system(self, content: str) -> str:
        return self.system.format(content) if content else ""

    def render_user(self, content: str) -> str:
        return self.user.format(content)


PLAIN = ChatFormat(
    system="{}\n\n",
    user="### Human: {}\n",
    assistant_prefix="### Assistant: ",
    assistant_suffix="\n",
)
"""For tokenizers without a chat template (base LMs such as Llama-2): LLaVA-style plain turns."""


def _wrapper(rendered: str, sentinel: str) -> str:
    before, found, after = rendered.partition(sentinel)
    if not found:
        raise ValueError("chat template dropped the message content")
    return before.replace("{", "{{").replace("}", "}}") + "{}" + after.replace("{", "{{").replace("}", "}}")


def chat_format(tokenizer: PreTrainedTokenizerBase) -> ChatFormat:
    """The tokenizer's own template as a ChatFormat; PLAIN when it has none or it is not per-message."""
    if not tokenizer.chat_template:
        return PLAIN

    def render(messages: list[dict], generation: bool = False) -> str:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation)

    try:
        system = [{"role": "system", "content": _SENTINEL}]
        system_text = render(system)
        fixed = [{"role": "system", "content": "s"}]
        base = render(fixed)
        user_text = render(fixed + [{"role": "user", "content": _SENTINEL}])
        asked = render(fixed + [{"role": "user", "content": "u"}])
        prompt = render(fixed + [{"role": "user", "content": "u"}], generation=True)
        answered = render(fixed + [{"role": "user", "content": "u"}, {"role": "assistant", "content": _SENTINEL}])
    except Exception:  # templates that reject a system turn or our message order
        return PLAIN
    if not (user_text.startswith(base) and prompt.startswith(asked) and answered.startswith(asked)):
        return PLAIN
    assistant = answered[len(asked):]
    prefix = prompt[len(asked):]
    if not assistant.startswith(prefix):
        return PLAIN
    suffix = assistant[len(prefix):].partition(_SENTINEL)[2]
    return ChatFormat(
        system=_wrapper(system_text, _SENTINEL),
        user=_wrapper(user_text[len(base):], _SENTINEL),
        assistant_prefix=prefix,
        assistant_suffix=suffix,
    )
