"""Conversations → token ids and loss labels through a released model's own chat template.

Every family renders conversations its own way (default system turns, images first or in place,
the system prompt folded into the first user turn, no end-of-turn token at all). Rather than
re-implement each, the conversation is rendered with the processor's template one turn at a time:
the text a turn adds to the rendering is that turn's segment, and for an assistant turn the text
the generation prompt adds is masked while the rest (the answer and its end of turn) is
supervised. Tokens and labels are extended together segment by segment, so no answer is searched
for in a rendered string, and the generation prompt is by construction the training prefix. A
template that rewrites earlier turns when one is added is refused: it cannot be supervised turn by
turn.

Each image token is replaced by the text the processor itself puts there for an image of that
size (any number of image tokens: dynamic resolution, tiles, markers), so the ids are the
processor's own; the image's pixels are processed only when the sample is used.
"""

from __future__ import annotations

import logging
import weakref
from functools import lru_cache

from PIL import Image

from scitune.contracts import IMAGE_PLACEHOLDER, Instruction
from scitune.model.batching import image_inputs, token_types
from scitune.model.chat import TEMPLATES, chat_format, template_name
from scitune.model.encode import IGNORE_INDEX, Encoded, Encoder

logger = logging.getLogger(__name__)

_SENTINEL = "SCITUNESENTINEL"
_ROLES = {"human": "user", "gpt": "assistant", "system": "system"}
_PROBES = ((64, 64), (320, 96))  # two very different shapes: a dynamic-resolution family tells them apart


class TemplateError(ValueError):
    """A chat template that cannot be supervised turn by turn."""


def template_of(processor) -> str:
    """The processor's chat template (else its tokenizer's); refuses a model without one."""
    template = getattr(processor, "chat_template", None) or processor.tokenizer.chat_template
    if isinstance(template, dict):
        template = template.get("default") or next(iter(template.values()))
    if not template:
        raise TemplateError(f"{type(processor).__name__} has no chat template: give the checkpoint the template "
                            "its family was trained with (chat_template.jinja)")
    return template


class TemplateEncoder:
    """Tokenizes conversations with the processor's chat template; one per (processor, system prompt).

    Same interface as `encode.Encoder`, plus the image's size (width, height): for families with
    dynamic resolution the number of image tokens depends on it."""

    def __init__(self, processor, system_prompt: str = ""):
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.system_prompt = system_prompt
        self.template = template_of(processor)
        self.image_token = processor.image_token
        self.list_content = self._accepts_lists()
        suffix = self._turn_end()
        self.append_eos = not self._special_ids(suffix)
        eos = self.tokenizer.eos_token_id
        self.stop_ids = list(dict.fromkeys([*self._special_ids(suffix)[:1], *([eos] if eos is not None else [])]))
        self.token_types = token_types(processor)
        self._replacement = lru_cache(maxsize=4096)(self._replacement_for)
        self.dynamic = len({self._replacement(size) for size in _PROBES}) > 1
        self.image_tokens = None if self.dynamic else len(self._ids(self.image_token, [_PROBES[0]]))

    # -- rendering -----------------------------------------------------------------------------
    def _render(self, messages: list[dict], generation: bool = False) -> str:
        return self.tokenizer.apply_chat_template(messages, chat_template=self.template, tokenize=False,
                                                  add_generation_prompt=generation)

    def _accepts_lists(self) -> bool:
        """Whether the template takes content as a list of parts (multimodal templates) or as a string."""
        try:
            rendered = self._render([{"role": "user", "content": [{"type": "text", "text": _SENTINEL}]}])
            return _SENTINEL in rendered
        except Exception:  # text-only templates concatenate the content as a string
            return False

    def _message(self, role: str, text: str) -> dict:
        role = _ROLES[role]
        if not self.list_content:
            return {"role": role, "content": text.replace(IMAGE_PLACEHOLDER, self.image_token)}
        parts = []
        for index, piece in enumerate(text.split(IMAGE_PLACEHOLDER)):
            if index:
                parts.append({"type": "image"})
                piece = piece.removeprefix("\n")  # LLaVA data writes "<image>\n"; templates place their own
            if piece:
                parts.append({"type": "text", "text": piece})
        return {"role": role, "content": parts}

    def _messages(self, turns: list[tuple[str, str]]) -> list[dict]:
        head = [self._message("system", self.system_prompt)] if self.system_prompt else []
        return head + [self._message(role, text) for role, text in turns]

    def _segments(self, messages: list[dict], generation: bool) -> list[tuple[str, bool]]:
        """(text, supervised) pieces whose concatenation is the rendered conversation (plus the
        generation prompt when GENERATION); each turn's piece is what rendering it adds."""
        pieces: list[tuple[str, bool]] = []
        done = ""

        def grow(before: str, after: str, supervised: bool, where: str) -> None:
            if not after.startswith(before):
                raise TemplateError(f"the chat template changes earlier text when {where} is added, so turns cannot be "
                                    f"supervised one by one:\n{before!r}\nis not a prefix of\n{after!r}")
            if len(after) > len(before):
                pieces.append((after[len(before):], supervised))

        for index, message in enumerate(messages):
            where = f"turn {index + 1} ({message['role']})"
            if message["role"] == "assistant":
                prompt = self._render(messages[:index], generation=True)
                grow(done, prompt, False, f"the generation prompt before {where}")
                done = prompt
                full = self._render(messages[:index + 1])
                grow(done, full, True, where)
                if self.append_eos:
                    # The template marks no end of turn (LLaVA-1.5 writes 'a USER: …'): the EOS ends the
                    # answer instead of the separator, as in LLaVA's own training ('a</s>USER: …').
                    text = pieces[-1][0]
                    pieces[-1] = (text.rstrip() or text, True)
                    pieces.append((None, True))
            else:
                full = self._render(messages[:index + 1])
                grow(done, full, False, where)
            done = full
        if generation:
            grow(done, self._render(messages, generation=True), False, "the generation prompt")
        return pieces

    # -- tokens --------------------------------------------------------------------------------
    def _special_ids(self, text: str) -> list[int]:
        special = set(self.tokenizer.all_special_ids) | {
            i for i, token in self.tokenizer.added_tokens_decoder.items() if token.special}
        return [i for i in self.tokenizer(text, add_special_tokens=False)["input_ids"] if i in special]

    def _turn_end(self) -> str:
        """What the template writes after an assistant's words (its end of turn), read off a probe."""
        messages = [self._message("human", "u"), self._message("gpt", _SENTINEL)]
        rendered = self._render(messages)
        return rendered[rendered.rindex(_SENTINEL) + len(_SENTINEL):]

    def _replacement_for(self, size: tuple[int, int]) -> str:
        return image_inputs(self.processor, Image.new("RGB", size))[1]

    def _ids(self, text: str, sizes: list[tuple[int, int]]) -> list[int]:
        """Token ids of TEXT with each image token replaced as the processor does for an image of that size."""
        pieces = text.split(self.image_token)
        if len(pieces) - 1 != len(sizes):
            raise ValueError(f"{len(pieces) - 1} image tokens in the rendered text for {len(sizes)} images")
        expanded = pieces[0] + "".join(self._replacement(size) + piece for size, piece in zip(sizes, pieces[1:]))
        return self.tokenizer(expanded, add_special_tokens=False)["input_ids"]

    def _encode(self, turns: list[tuple[str, str]], image_size: tuple[int, int] | None, generation: bool,
                record: str = "") -> Encoded:
        images = sum(text.count(IMAGE_PLACEHOLDER) for _, text in turns)
        if images > 1:
            raise ValueError(f"{record}: {images} images in one conversation; one is supported")
        if images == 0 and image_size is not None:
            raise ValueError(f"{record}: an image but no {IMAGE_PLACEHOLDER} in the conversation")
        if images == 1 and image_size is None and self.dynamic:
            raise ValueError(f"{record}: the image size is needed to count its tokens (dynamic resolution)")
        sizes = [tuple(image_size) if image_size else _PROBES[0]] if images else []
        ids: list[int] = []
        labels: list[int] = []
        # Neighbouring masked pieces (a user turn and the generation prompt after it) are tokenized
        # as one text, as the template's own rendering would be: fewer boundaries a merge could cross.
        runs: list[tuple[str | None, bool]] = []
        for text, supervised in self._segments(self._messages(turns), generation):
            if runs and text is not None and runs[-1][0] is not None and not supervised and not runs[-1][1]:
                runs[-1] = (runs[-1][0] + text, False)
            else:
                runs.append((text, supervised))
        for text, supervised in runs:
            if text is None:
                segment = [self.tokenizer.eos_token_id]
            else:
                count = text.count(self.image_token)
                segment = self._ids(text, sizes[:count])
                sizes = sizes[count:]
            ids += segment
            labels += segment if supervised else [IGNORE_INDEX] * len(segment)
        if sizes:
            raise ValueError(f"{record}: the chat template placed no image token for the conversation's image")
        return Encoded(ids, labels)

    # -- the Encoder interface -----------------------------------------------------------------
    @staticmethod
    def _turns(instruction: Instruction, before_answer: bool = False) -> list[tuple[str, str]]:
        turns = []
        for turn in instruction.conversations:
            if before_answer and turn.from_ == "gpt":
                break
            turns.append((turn.from_, turn.value))
        return turns

    def encode(self, instruction: Instruction, image_size: tuple[int, int] | None = None) -> Encoded:
        """All turns; only assistant turns (and their end of turn) are supervised."""
        return self._encode(self._turns(instruction), image_size, generation=False, record=instruction.id)

    def encode_prompt(self, instruction: Instruction, image_size: tuple[int, int] | None = None) -> list[int]:
        """Everything before the first assistant turn, plus the generation prompt."""
        return self._encode(self._turns(instruction, before_answer=True), image_size, generation=True,
                            record=instruction.id).input_ids

    def encode_chat(self, turns: list[tuple[str, str]], image_size: tuple[int, int] | None = None) -> list[int]:
        """A multi-turn generation prompt: (role, text) turns, role human/gpt/system, the last the human's."""
        return self._encode(turns, image_size, generation=True, record="chat").input_ids

    def image_inputs(self, image: Image.Image, record: str = "") -> dict:
        """The model inputs of IMAGE; fails naming RECORD if its token count differs from the encoded one."""
        inputs, replacement = image_inputs(self.processor, image)
        expected = self._replacement(image.size if self.dynamic else _PROBES[0])
        if replacement != expected:
            raise ValueError(f"{record}: the image now gives other image tokens than when the sample was encoded")
        return inputs


class ChatFormatEncoder(Encoder):
    """SciTune's own Llava checkpoints (an LM's text template, or a conversation template SciTune
    wrote): `encode.Encoder` and its chat format, with the family interface (the image size is not
    needed: the token count is fixed)."""

    dynamic = False
    token_types = None

    def __init__(self, processor, system_prompt: str = ""):
        super().__init__(processor, chat_format(processor), system_prompt)
        self.stop_ids = [self.tokenizer.eos_token_id]

    def encode(self, instruction: Instruction, image_size: tuple[int, int] | None = None) -> Encoded:
        return super().encode(instruction)

    def encode_prompt(self, instruction: Instruction, image_size: tuple[int, int] | None = None) -> list[int]:
        return super().encode_prompt(instruction)

    def encode_chat(self, turns: list[tuple[str, str]], image_size: tuple[int, int] | None = None) -> list[int]:
        return super().encode_chat(turns)

    def image_inputs(self, image: Image.Image, record: str = "") -> dict:
        return image_inputs(self.processor, image)[0]


def _takes_content_lists(processor) -> bool:
    try:
        template = template_of(processor)
    except TemplateError:
        return False
    try:
        rendered = processor.tokenizer.apply_chat_template(
            [{"role": "user", "content": [{"type": "text", "text": _SENTINEL}]}], chat_template=template,
            tokenize=False)
    except Exception:  # a text template concatenating the content as a string
        return False
    return _SENTINEL in rendered


def encoder_for(processor, system_prompt: str = "") -> TemplateEncoder | ChatFormatEncoder:
    """The encoder of a checkpoint's processor: a released model's own multimodal chat template
    (`TemplateEncoder`), or, for the Llava models SciTune assembles from a text LM, that LM's chat
    format (`ChatFormatEncoder`, see model/chat.py)."""
    assembled = type(processor).__name__ == "LlavaProcessor" and (
        template_name(processor) in TEMPLATES or not _takes_content_lists(processor))
    return ChatFormatEncoder(processor, system_prompt) if assembled else TemplateEncoder(processor, system_prompt)


_ENCODERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def cached_encoder(processor) -> TemplateEncoder | ChatFormatEncoder:
    """`encoder_for(processor)` made once per processor (its probes run image processing)."""
    if processor not in _ENCODERS:
        _ENCODERS[processor] = encoder_for(processor)
    return _ENCODERS[processor]


def released_stop_ids(processor) -> list[int] | None:
    """The token ids that end an answer of a released model (its template's end of turn, its EOS);
    None for SciTune's own Llava checkpoints, whose chat format says (`generate.stop_rule`)."""
    encoder = cached_encoder(processor)
    return encoder.stop_ids if isinstance(encoder, TemplateEncoder) else None


def generation_inputs(processor, images: list[Image.Image], input_ids) -> dict:
    """What a family's generate() reads besides the ids and mask: the images' inputs in token order
    and, for families that need it, the per-token type of the left-padded INPUT_IDS."""
    from scitune.model.batching import batch_images

    inputs = batch_images(images, processor) if images else {}
    types = cached_encoder(processor).token_types
    if types is not None:
        inputs.update(types.of(input_ids))
    return inputs


def suppressed_ids(model, processor) -> list[int]:
    """Input-only image tokens (the model's, and the processor's marker, e.g. Gemma 3's start of image):
    a generated one would be read back as an image slot."""
    ids = [getattr(model.config, "image_token_id", None),
           processor.tokenizer.convert_tokens_to_ids(getattr(processor, "image_token", None) or IMAGE_PLACEHOLDER)]
    return list(dict.fromkeys(i for i in ids if isinstance(i, int)))


def prompt_ids(encoder, instruction: Instruction, image_root) -> list[int]:
    """INSTRUCTION's generation prompt. For a dynamic-resolution family the image's token count
    depends on its size, read from the file's header; an image that cannot be read gets a stand-in
    size (its item fails when the image is loaded, with the reason)."""
    size = None
    if instruction.image and getattr(encoder, "dynamic", False):
        from scitune.sources.images import check_image, resolve_image

        try:
            path = resolve_image(image_root, instruction.image, instruction.id)
            check_image(path, instruction.id, "header")
            with Image.open(path) as image:
                size = image.size
        except (ValueError, OSError):
            size = _PROBES[0]
    return encoder.encode_prompt(instruction, size) if size else encoder.encode_prompt(instruction)
