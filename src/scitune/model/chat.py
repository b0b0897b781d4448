"""The chat format around each message, shared by training and inference.

Two sources, one object (`ChatFormat`):
- an LM whose tokenizer has its own chat template (SmolLM2, Qwen…): the template is rendered around
  sentinel messages and what it puts around each message is read off;
- an LM without one (Llama-2 and Vicuna base weights): the conversation template LLaVA trained that
  LM with, `vicuna_v1` (`SYSTEM USER: … ASSISTANT: …</s>`) or `llama_2` (`[INST] … [/INST] … </s>`),
  with the end of every assistant turn the tokenizer's EOS (supervised, so the model learns to stop)
  and the BOS where the tokenizer's own `add_special_tokens=True` would put it.

A named template is written into the tokenizer as a Jinja chat template (`chat_template_for`) when
the model is assembled, so a checkpoint carries it: `apply_chat_template` of plain transformers
renders the same text, and `chat_format` reads the name back from it without the recipe.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

_SENTINEL = "\x00SCITUNE\x00"
_MARK = "{#- scitune:"

VICUNA_SYSTEM = ("A chat between a curious human and an artificial intelligence assistant. The assistant gives "
                 "helpful, detailed, and polite answers to the human's questions.")
"""Vicuna v1's own system message (LLaVA's `conv_vicuna_v1`), used when a recipe sets none."""


@dataclass(frozen=True)
class ChatFormat:
    """Text placed around each message; `{}` in a wrapper is where the message content goes."""

    system: str
    user: str
    assistant_prefix: str
    """What follows a user turn before the answer: the end of every generation prompt."""
    assistant_suffix: str
    """Ends every assistant turn and is supervised with it (the EOS for LLaVA's templates)."""
    name: str = "tokenizer"
    """'tokenizer' (read off the tokenizer's own template), 'vicuna_v1' or 'llama_2'."""
    start: str = ""
    """At the very start of a conversation: the BOS, when the tokenizer adds one."""
    user_later: str | None = None
    """Wrapper of user turns that follow an assistant turn (llama_2 starts each round with BOS)."""
    system_in_user: bool = False
    """The system message goes inside the first user turn (llama_2's `<<SYS>>` block)."""
    default_system: str = ""
    """System message used when none is given (the one the LM was trained with)."""
    answer_lead: str = ""
    """Text between the assistant prefix and the answer, supervised with it (vicuna_v1: a space)."""
    stop_strings: tuple[str, ...] = ()
    """Text that opens the next turn: generation stops there even if no EOS came."""

    def render_system(self, content: str) -> str:
        return self.system.format(content) if content else ""

    def render_user(self, content: str) -> str:
        return self.user.format(content)

    def render_answer(self, content: str) -> str:
        """An assistant turn's supervised text (after the prefix)."""
        return self.answer_lead + content + self.assistant_suffix

    def segments(self, system_prompt: str, turns: list[tuple[str, str]],
                 generation: bool = False) -> list[tuple[str, bool]]:
        """The conversation as (text, supervised) pieces in order: TURNS are (role, text) with role
        'human', 'gpt' or 'system'; GENERATION appends the assistant prefix (the generation prompt).
        Training and inference both tokenize these pieces, piece by piece."""
        system = system_prompt or self.default_system
        pieces: list[tuple[str, bool]] = [(self.start, False)] if self.start else []
        if system and not self.system_in_user:
            pieces.append((self.render_system(system), False))
        seen_user = answered = False
        for role, text in turns:
            if role == "gpt":
                pieces += [(self.assistant_prefix, False), (self.render_answer(text), True)]
                answered = True
            elif role == "human":
                if not seen_user and self.system_in_user and system:
                    text = self.render_system(system) + text
                wrapper = self.user_later if (answered and self.user_later is not None) else self.user
                pieces.append((wrapper.format(text), False))
                seen_user = True
            else:
                pieces.append((self.render_system(text), False))
        if generation:
            pieces.append((self.assistant_prefix, False))
        return [(text, supervised) for text, supervised in pieces if text]


def special_prefix(tokenizer: PreTrainedTokenizerBase) -> str:
    """What `add_special_tokens=True` puts before a text (e.g. Llama's `<s>`), as text; '' for none."""
    probe = "a"
    bare = tokenizer(probe, add_special_tokens=False)["input_ids"]
    full = tokenizer(probe, add_special_tokens=True)["input_ids"]
    for start in range(len(full) - len(bare) + 1):
        if full[start:start + len(bare)] == bare:
            return tokenizer.decode(full[:start])
    return ""


def _eos(tokenizer: PreTrainedTokenizerBase) -> str:
    if tokenizer.eos_token is None:
        raise ValueError("the tokenizer has no EOS token: a conversation template cannot mark where answers end")
    return tokenizer.eos_token


def vicuna_v1(tokenizer: PreTrainedTokenizerBase) -> ChatFormat:
    """LLaVA-1.5's `conv_vicuna_v1`: `SYSTEM USER: q ASSISTANT: a</s>USER: q2 ASSISTANT:`."""
    return ChatFormat(system="{} ", user="USER: {} ", assistant_prefix="ASSISTANT:", answer_lead=" ",
                      assistant_suffix=_eos(tokenizer), name="vicuna_v1", start=special_prefix(tokenizer),
                      default_system=VICUNA_SYSTEM, stop_strings=("USER:",))


def llama_2(tokenizer: PreTrainedTokenizerBase) -> ChatFormat:
    """LLaVA's `conv_llava_llama_2`: `<s>[INST] <<SYS>>\\nS\\n<</SYS>>\\n\\nq [/INST] a </s><s>[INST] q2 [/INST]`."""
    start = special_prefix(tokenizer)
    return ChatFormat(system="<<SYS>>\n{}\n<</SYS>>\n\n", user="[INST] {} [/INST]", assistant_prefix="",
                      answer_lead=" ", assistant_suffix=" " + _eos(tokenizer), name="llama_2", start=start,
                      user_later=start + "[INST] {} [/INST]", system_in_user=True, stop_strings=("[INST]",))


TEMPLATES: dict[str, Callable[[PreTrainedTokenizerBase], ChatFormat]] = {"vicuna_v1": vicuna_v1, "llama_2": llama_2}
"""Conversation templates for LMs without their own chat template, by the name a recipe uses."""


def _template_of(source) -> str | None:
    """The chat template of a processor or a tokenizer (a processor's own first)."""
    template = getattr(source, "chat_template", None)
    if not template and hasattr(source, "tokenizer"):
        template = source.tokenizer.chat_template
    return template if isinstance(template, str) else None


def template_name(source) -> str:
    """'vicuna_v1' / 'llama_2' for a template SciTune wrote, 'tokenizer' for the LM's own, 'none'."""
    template = _template_of(source)
    if not template:
        return "none"
    if template.startswith(_MARK):
        return template[len(_MARK):].split(" ", 1)[0].strip()
    return "tokenizer"


def chat_format(source) -> ChatFormat:
    """The chat format of a tokenizer or processor: a named template SciTune wrote into it, else its
    own template read off, else (no template, or one that is not per message) LLaVA's vicuna_v1."""
    tokenizer = getattr(source, "tokenizer", source)
    name = template_name(source)
    if name in TEMPLATES:
        return TEMPLATES[name](tokenizer)
    if name == "tokenizer":
        derived = _derived(tokenizer, _template_of(source))
        if derived is not None:
            return derived
    return vicuna_v1(tokenizer)


def _wrapper(rendered: str, sentinel: str) -> str:
    before, found, after = rendered.partition(sentinel)
    if not found:
        raise ValueError("chat template dropped the message content")
    return before.replace("{", "{{").replace("}", "}}") + "{}" + after.replace("{", "{{").replace("}", "}}")


def _derived(tokenizer: PreTrainedTokenizerBase, template: str) -> ChatFormat | None:
    """The tokenizer's own template as a ChatFormat; None when it is not per message."""

    def render(messages: list[dict], generation: bool = False) -> str:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation,
                                             chat_template=template)

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
        return None
    if not (user_text.startswith(base) and prompt.startswith(asked) and answered.startswith(asked)):
        return None
    assistant = answered[len(asked):]
    prefix = prompt[len(asked):]
    if not assistant.startswith(prefix):
        return None
    suffix = assistant[len(prefix):].partition(_SENTINEL)[2]
    return ChatFormat(
        system=_wrapper(system_text, _SENTINEL),
        user=_wrapper(user_text[len(base):], _SENTINEL),
        assistant_prefix=prefix,
        assistant_suffix=suffix,
    )


def _literal(text: str) -> str:
    """A Jinja string literal (JSON's escaping is valid Jinja)."""
    return json.dumps(text)


def chat_template_for(name: str, tokenizer: PreTrainedTokenizerBase) -> str:
    """The Jinja chat template of the named conversation template for TOKENIZER: what a checkpoint
    carries, so that plain `apply_chat_template` renders exactly the text SciTune trains on (message
    contents may be strings or lists of {type: image|text} parts; an image part is `<image>\\n`)."""
    if name not in TEMPLATES:
        raise ValueError(f"unknown chat template '{name}'; choose one of {', '.join(TEMPLATES)}")
    chat = TEMPLATES[name](tokenizer)
    sys_before, _, sys_after = chat.system.partition("{}")
    user_before, _, user_after = chat.user.partition("{}")
    later_before, _, later_after = (chat.user_later or chat.user).partition("{}")
    return (
        f"{_MARK}{name} (written by SciTune; scitune.model.chat) -#}}\n"
        "{%- macro text(content) -%}{%- if content is string -%}{{ content }}{%- else -%}"
        "{%- for part in content -%}{%- if part['type'] == 'image' -%}{{ \"<image>\\n\" }}"
        "{%- elif part['type'] == 'text' -%}{{ part['text'] }}{%- endif -%}{%- endfor -%}{%- endif -%}{%- endmacro -%}\n"
        f"{{%- set ns = namespace(system={_literal(chat.default_system)}, seen_user=false, answered=false) -%}}\n"
        "{%- if messages and messages[0]['role'] == 'system' -%}{%- set ns.system = text(messages[0]['content']) -%}"
        "{%- set messages = messages[1:] -%}{%- endif -%}\n"
        f"{{{{ {_literal(chat.start)} }}}}"
        + ("" if chat.system_in_user else
           f"{{%- if ns.system -%}}{{{{ {_literal(sys_before)} + ns.system + {_literal(sys_after)} }}}}{{%- endif -%}}")
        + "\n{%- for message in messages -%}\n"
        "{%- if message['role'] == 'user' -%}"
        "{%- set body = text(message['content']) -%}"
        + (f"{{%- if not ns.seen_user and ns.system -%}}{{%- set body = {_literal(sys_before)} + ns.system + "
           f"{_literal(sys_after)} + body -%}}{{%- endif -%}}" if chat.system_in_user else "")
        + f"{{%- if ns.answered -%}}{{{{ {_literal(later_before)} + body + {_literal(later_after)} }}}}"
        f"{{%- else -%}}{{{{ {_literal(user_before)} + body + {_literal(user_after)} }}}}{{%- endif -%}}"
        "{%- set ns.seen_user = true -%}\n"
        "{%- elif message['role'] == 'assistant' -%}"
        f"{{{{ {_literal(chat.assistant_prefix + chat.answer_lead)} + text(message['content']) + "
        f"{_literal(chat.assistant_suffix)} }}}}{{%- set ns.answered = true -%}}\n"
        f"{{%- else -%}}{{{{ {_literal(sys_before)} + text(message['content']) + {_literal(sys_after)} }}}}"
        "{%- endif -%}\n{%- endfor -%}\n"
        f"{{%- if add_generation_prompt -%}}{{{{ {_literal(chat.assistant_prefix)} }}}}{{%- endif -%}}"
    )


def resolve_template(choice: str, tokenizer: PreTrainedTokenizerBase) -> str | None:
    """The named template a model gets for the recipe's `chat_template` CHOICE: None keeps the
    tokenizer's own ('auto' with a tokenizer that has one); 'auto' without one is vicuna_v1."""
    if choice == "auto":
        return None if tokenizer.chat_template else "vicuna_v1"
    if choice not in TEMPLATES:
        raise ValueError(f"unknown chat template '{choice}'; choose auto or one of {', '.join(TEMPLATES)}")
    return choice
