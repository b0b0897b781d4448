"""Step-wise decoding for continuous batching: requests join and leave a running batch between steps,
and every row gets the same bits whatever else is in the batch.

`model.generate` decodes a fixed batch until its longest row is done. A server wants more: a
finished (or cancelled) row leaves at once and a waiting request joins at the next step. Here the
rows share one left-padded KV cache (transformers' `DynamicCache`):
- a joining request is prefilled alone (its image, its prompt) and its cache is left-padded into
  the batch's, or the batch's into its own when the new prompt is the longest;
- a row that leaves frees its place, and the leading columns no remaining row uses are trimmed, so
  the cache never outgrows the longest row still running;
- each row keeps its own position ids.

Batch invariance, which "the answer a request gets alone" needs and plain batching does not give
(measured on CPU: a row's logits differ in the last bits between batches of 1, 2-3 and 4+ rows, and
with the amount of left padding, enough to flip a near-tie after a few hundred greedy tokens):
- attention runs row by row over the row's own columns (`_rowwise_attention`, registered with
  transformers' AttentionInterface around the model's own implementation), so padding never enters
  a row's reductions;
- the batch always holds a multiple of `row_quantum` rows (empty "ballast" places fill it up), the
  smallest row count for which every matrix product of this model gives each row the same bits in
  any batch of a multiple of it, measured on the hardware at start-up (4 on the CPUs we tried).

Tokens are chosen as `generate_ids` chooses them: the image placeholder suppressed, the checkpoint's
`min_new_tokens` honoured, greedy argmax; a row stops by the one `stop_rule` of generate.py. A sampled
row draws from its own `torch.Generator`, so its seed alone decides its tokens. `unsupported` names
what this loop does not reproduce (other model families, sliding-window caches, generation settings
such as a repetition penalty): callers fall back to `generate_ids` for those.
"""

from __future__ import annotations

import logging
import secrets
import weakref
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from PIL import Image
from transformers import AttentionInterface, DynamicCache, LlavaForConditionalGeneration, LlavaProcessor
from transformers.cache_utils import DynamicLayer
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from scitune.model.generate import _cut as cut_at_stop
from scitune.model.generate import stop_rule

logger = logging.getLogger(__name__)

_NEUTRAL = {"num_beams": 1, "repetition_penalty": 1.0, "encoder_repetition_penalty": 1.0, "min_length": 0,
            "no_repeat_ngram_size": 0, "encoder_no_repeat_ngram_size": 0, "bad_words_ids": None,
            "sequence_bias": None, "suppress_tokens": None, "begin_suppress_tokens": None,
            "forced_bos_token_id": None, "forced_eos_token_id": None, "exponential_decay_length_penalty": None,
            "guidance_scale": 1.0, "watermarking_config": None, "force_words_ids": None, "constraints": None,
            "penalty_alpha": None, "dola_layers": None, "num_beam_groups": 1, "prompt_lookup_num_tokens": None}
"""Generation settings that change which token greedy decoding picks, with their do-nothing value:
a checkpoint whose generation_config sets one of them is decoded by `generate_ids` instead."""

_ROWS = "scitune_rows_"
"""Prefix of the attention implementations registered here (followed by the wrapped one's name)."""

_QUANTA: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""model → {max_rows: row quantum}: measured once per model."""


@dataclass(frozen=True)
class Decoding:
    """How one row is decoded."""

    max_new_tokens: int
    temperature: float = 0.0
    """0: greedy."""
    top_p: float = 1.0
    seed: int | None = None
    """Seed of a sampled row's own generator (None: a random one)."""


@dataclass(eq=False)
class Row:
    """One sequence in the batch. `tokens` are its new tokens so far; `finish` becomes 'stop' (a stop
    token, kept as the last token, or a stop string, cut as `generate_ids` cuts it) or 'length'."""

    key: object
    prompt_tokens: int
    decoding: Decoding
    tokens: list[int] = field(default_factory=list)
    finish: str | None = None
    generator: torch.Generator | None = None


def unsupported(model) -> str | None:
    """Why the step-wise loop cannot decode MODEL exactly as `generate_ids` does; None when it can."""
    if not isinstance(model, LlavaForConditionalGeneration):
        return f"{type(model).__name__} is not a Llava model (its positions are not one id per token)"
    layers = DynamicCache(config=model.config).layers
    if any(type(layer) is not DynamicLayer for layer in layers):
        return "the language model has sliding-window or other non-growing cache layers"
    config = model.generation_config
    for name, neutral in _NEUTRAL.items():
        value = getattr(config, name, None)
        if value is not None and value != neutral:
            return f"its generation_config sets {name}={value!r}"
    return None


def _rowwise_attention(base: str):
    """An attention function that, given `scitune_row_starts` (each row's first real column; -1 for
    a ballast row), attends row by row over the row's own columns, exactly as that row alone with no
    padding; without it, it is BASE itself (prefill, and every other caller of the model)."""
    wrapped = ALL_ATTENTION_FUNCTIONS[base]

    def attention(module, query, key, value, attention_mask, scitune_row_starts=None, **kwargs):
        if scitune_row_starts is None:
            return wrapped(module, query, key, value, attention_mask, **kwargs)
        output = None  # [rows, query length, heads, head_dim], the layout attention functions return
        for row, start in enumerate(scitune_row_starts):
            if start < 0:
                continue
            single, _ = wrapped(module, query[row:row + 1], key[row:row + 1, :, start:],
                                value[row:row + 1, :, start:], None, **kwargs)
            if output is None:
                output = single.new_zeros((query.shape[0], *single.shape[1:]))
            output[row] = single[0]
        return output, None

    return attention


def _use_rowwise_attention(model: LlavaForConditionalGeneration) -> None:
    base = model.config.get_text_config()._attn_implementation
    if base.startswith(_ROWS):
        return
    name = _ROWS + base
    AttentionInterface.register(name, _rowwise_attention(base))
    AttentionMaskInterface.register(name, ALL_MASK_ATTENTION_FUNCTIONS[base])
    model.set_attn_implementation({"text_config": name})


def row_quantum(model: torch.nn.Module, max_rows: int = 64) -> int:
    """The smallest row count Q (1, 2, 4, 8 or 16) such that, in a batch of any multiple of Q rows
    up to MAX_ROWS, each of the model's matrix products gives every row the bits it gets in a batch
    of Q: measured here, with the model's own weights (their first 512 outputs) and dtype.
    0 when none does (batched answers may then differ from alone ones in near-ties)."""
    shapes: dict[int, torch.Tensor] = {}
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and "vision_tower" not in name:  # the tower only runs in prefill
            shapes.setdefault(module.in_features, module.weight[:512].detach())
    generator = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        probes = [(weight, torch.randn(1, features, generator=generator).to(weight.device, weight.dtype))
                  for features, weight in shapes.items()]
        for quantum in (1, 2, 4, 8, 16):
            rows = range(quantum, max(max_rows, quantum) + quantum, quantum)
            if all(torch.equal(F.linear(x.repeat(count, 1), weight), F.linear(x.repeat(quantum, 1), weight)[:1]
                               .expand(count, -1)) for weight, x in probes for count in rows):
                return quantum
    return 0


class Decoder:
    """The running batch of one model: `join` adds a request, `step` advances every row by one token,
    `drop` removes rows. Not thread-safe: one worker owns it. The model's text attention is switched
    to the row-wise wrapper of its own implementation (the same results for every other caller)."""

    def __init__(self, model: LlavaForConditionalGeneration, processor: LlavaProcessor, max_rows: int = 64):
        reason = unsupported(model)
        if reason:
            raise ValueError(f"step-wise decoding cannot reproduce generate() for this model: {reason}")
        self.model, self.processor, self.tokenizer = model, processor, processor.tokenizer
        _use_rowwise_attention(model)
        measured = _QUANTA.setdefault(model, {}).get(max_rows)
        if measured is None:
            measured = _QUANTA[model][max_rows] = row_quantum(model, max_rows)
            logger.info("row quantum %d: every batch holds a multiple of it, so rows get the same bits", measured)
        if not measured:
            logger.warning("no batch size gives every row the same bits on this hardware: answers in a batch may "
                           "differ from answers alone where two tokens are nearly tied")
        self.quantum = measured or 1
        self.rule = stop_rule(processor, model)
        self.stop_ids = torch.tensor(self.rule.token_ids, dtype=torch.long)
        self.min_new_tokens = model.generation_config.min_new_tokens or 0
        self.image_token_id = model.config.image_token_id
        # A stop string spans at most one token per character (plus a token on either side).
        self.window = max((len(s) for s in self.rule.strings), default=0) + 2
        self.places: list[Row | None] = []  # None: a ballast place (a multiple of `quantum` in all)
        self._cache: DynamicCache | None = None
        self._mask: torch.Tensor | None = None  # [places, columns] 1 where a row has a token
        self._positions: torch.Tensor | None = None  # [places] position id of each row's next token
        self._last: torch.Tensor | None = None  # [places] each row's latest token, the next step's input

    @property
    def rows(self) -> list[Row]:
        return [row for row in self.places if row is not None]

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def width(self) -> int:
        """Columns of the shared cache: the longest row still running (prompt and tokens so far)."""
        return 0 if self._mask is None else self._mask.shape[1]

    def pixel_values(self, image: Image.Image) -> torch.Tensor:
        """[1, 3, H, W] in the model's dtype: the processor's view of one image (done once, at submit)."""
        pixels = self.processor.image_processor(image, return_tensors="pt")["pixel_values"]
        return pixels.to(self.model.dtype)

    # -- joining and leaving ------------------------------------------------------------------
    @torch.inference_mode()
    def join(self, key: object, prompt_ids: list[int], pixel_values: torch.Tensor | None, decoding: Decoding) -> Row:
        """Prefill one request alone and choose its first token; it joins the batch unless that token
        already ends it. Returns its Row (check `finish`)."""
        row = Row(key, len(prompt_ids), decoding)
        if decoding.temperature > 0:
            row.generator = torch.Generator().manual_seed(
                decoding.seed if decoding.seed is not None else secrets.randbits(63))
        inputs = {"input_ids": torch.tensor([prompt_ids], device=self.device),
                  "attention_mask": torch.ones(1, len(prompt_ids), dtype=torch.long, device=self.device)}
        if pixel_values is not None:
            inputs["pixel_values"] = pixel_values.to(self.device, self.model.dtype)
        cache = DynamicCache(config=self.model.config)
        logits = self.model(**inputs, past_key_values=cache, use_cache=True, logits_to_keep=1).logits[:, -1]
        token = self._choose(logits, [row])
        self._advance(row, int(token[0]))
        if row.finish is None:
            self._place(row, cache, int(token[0]))
        return row

    def _place(self, row: Row, cache: DynamicCache, token: int) -> None:
        length = row.prompt_tokens
        if not self.places:
            self._cache = cache
            self._mask = torch.ones(1, length, dtype=torch.long, device=self.device)
            self._positions = torch.tensor([length], device=self.device)
            self._last = torch.tensor([token], device=self.device)
            self.places = [row]
            self._ballast(self.quantum - 1)
            return
        if None not in self.places:
            self._ballast(self.quantum)
        place = self.places.index(None)
        if length > self.width:  # the newcomer is the longest: everyone else is padded on the left
            extra = length - self.width
            for layer in self._cache.layers:  # keys/values: [places, heads, columns, head_dim]
                layer.keys = F.pad(layer.keys, (0, 0, extra, 0))
                layer.values = F.pad(layer.values, (0, 0, extra, 0))
            self._mask = F.pad(self._mask, (extra, 0))
        pad = self.width - length
        for mine, theirs in zip(self._cache.layers, cache.layers):
            mine.keys[place] = F.pad(theirs.keys[0], (0, 0, pad, 0))
            mine.values[place] = F.pad(theirs.values[0], (0, 0, pad, 0))
        self._mask[place] = 0
        self._mask[place, pad:] = 1
        self._positions[place], self._last[place] = length, token
        self.places[place] = row

    def _ballast(self, count: int) -> None:
        """COUNT more empty places: zero cache, no columns of their own, never attended to."""
        if count <= 0:
            return
        for layer in self._cache.layers:
            layer.keys = torch.cat([layer.keys, layer.keys.new_zeros((count, *layer.keys.shape[1:]))])
            layer.values = torch.cat([layer.values, layer.values.new_zeros((count, *layer.values.shape[1:]))])
        self._mask = torch.cat([self._mask, self._mask.new_zeros((count, self._mask.shape[1]))])
        self._positions = torch.cat([self._positions, self._positions.new_zeros(count)])
        self._last = torch.cat([self._last, self._last.new_zeros(count)])
        self.places += [None] * count

    @torch.inference_mode()
    def drop(self, rows: list[Row]) -> None:
        """Remove ROWS from the batch (finished or cancelled); their cache goes with them."""
        gone = {id(row) for row in rows}
        freed = [index for index, row in enumerate(self.places) if row is not None and id(row) in gone]
        if not freed:
            return
        for index in freed:
            self.places[index] = None
            self._mask[index] = 0
        running = [index for index, row in enumerate(self.places) if row is not None]
        if not running:
            self.places, self._cache, self._mask, self._positions, self._last = [], None, None, None, None
            return
        wanted = -(-len(running) // self.quantum) * self.quantum
        keep = running + [index for index, row in enumerate(self.places) if row is None][: wanted - len(running)]
        keep.sort()
        index = torch.tensor(keep, device=self.device)
        lead = int(self._mask.any(0).long().argmax())  # columns only departed rows used
        self.places = [self.places[i] for i in keep]
        self._mask, self._positions, self._last = self._mask[index, lead:], self._positions[index], self._last[index]
        for layer in self._cache.layers:
            layer.keys = layer.keys[index, :, lead:]
            layer.values = layer.values[index, :, lead:]

    def reset(self) -> None:
        """Forget every row (after a failure: touches no tensor)."""
        self.places, self._cache, self._mask, self._positions, self._last = [], None, None, None, None

    # -- decoding -----------------------------------------------------------------------------
    @torch.inference_mode()
    def step(self) -> list[Row]:
        """One new token for every row; rows that finish leave the batch. Returns the rows advanced
        (each with its new token last), finished ones included."""
        rows = self.rows
        if not rows:
            return []
        real = torch.tensor([row is not None for row in self.places], dtype=torch.long, device=self.device)
        self._mask = torch.cat([self._mask, real[:, None]], 1)
        # Each row's first real column (its tokens are contiguous up to the last column); -1: ballast.
        starts = torch.where(real.bool(), self._mask.argmax(1), -1).tolist()
        logits = self.model(input_ids=self._last[:, None], position_ids=self._positions[:, None],
                            past_key_values=self._cache, use_cache=True, logits_to_keep=1,
                            scitune_row_starts=starts).logits[:, -1]
        taken = [i for i, row in enumerate(self.places) if row is not None]
        tokens = self._choose(logits[taken], rows)
        self._positions = self._positions + real
        self._last[taken] = tokens
        for row, token in zip(rows, tokens.tolist()):
            self._advance(row, token)
        self.drop([row for row in rows if row.finish])
        return rows

    def _choose(self, logits: torch.Tensor, rows: list[Row]) -> torch.Tensor:
        """[rows, vocab] logits → [rows] token ids, as generate's processors and greedy search would."""
        scores = logits.float()
        scores[:, self.image_token_id] = float("-inf")  # input-only: a generated one would read as an image slot
        if self.min_new_tokens:
            early = torch.tensor([len(row.tokens) < self.min_new_tokens for row in rows], device=scores.device)
            stops = self.stop_ids.to(scores.device)
            scores[early.nonzero()[:, :1], stops] = float("-inf")
        chosen = scores.argmax(-1)
        for index, row in enumerate(rows):
            if row.generator is not None:
                chosen[index] = _sample(scores[index], row.decoding, row.generator)
        return chosen

    def _advance(self, row: Row, token: int) -> None:
        row.tokens.append(token)
        if token in self.rule.token_ids:
            row.finish = "stop"
        elif self.rule.strings and self._stop_string(row):
            row.finish = "stop"
        elif len(row.tokens) >= row.decoding.max_new_tokens:
            row.finish = "length"

    def _stop_string(self, row: Row) -> bool:
        tail = self.tokenizer.decode(row.tokens[-self.window:], skip_special_tokens=True)
        if not any(text in tail for text in self.rule.strings):
            return False
        cut = cut_at_stop(row.tokens, self.rule, self.tokenizer)
        if cut == row.tokens:
            return False
        row.tokens = cut
        return True


def _sample(scores: torch.Tensor, decoding: Decoding, generator: torch.Generator) -> int:
    """A token drawn from SCORES [vocab] at the row's temperature within its top-p nucleus."""
    scores = scores.detach().to("cpu") / decoding.temperature
    if decoding.top_p < 1.0:
        ordered, order = scores.sort(descending=True)
        probs = ordered.softmax(-1)
        # Keep the smallest head whose mass reaches top_p (the first token always stays).
        outside = probs.cumsum(-1) - probs >= decoding.top_p
        scores[order[outside]] = float("-inf")
    return int(torch.multinomial(scores.softmax(-1), 1, generator=generator))
