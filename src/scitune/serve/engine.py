"""The serving engine: one model, one worker thread, requests queued and batched.

Concurrent requests go through the same generation core as `scitune predict` (`generate_ids`), so
a served answer is the answer `predict` gives. Greedy requests are batched together (greedy
answers do not depend on what else is in the batch, nor on the batch's longest `max_tokens`: each
row is cut to its own); a sampled request runs alone so its seed alone decides its tokens.
The model loads in the background: until it is ready, `submit` refuses with `NotReady`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image
from transformers.generation.streamers import BaseStreamer

from scitune.model.generate import generate_ids
from scitune.model.build import load_llava
from scitune.model.chat import chat_format
from scitune.model.encode import Encoder

logger = logging.getLogger(__name__)


class NotReady(RuntimeError):
    """The model is still loading (or failed to load)."""


class TooLong(ValueError):
    """The prompt and the requested tokens do not fit the model's context."""


@dataclass
class Request:
    """One conversation to answer. `turns` are (role, text) with role human/gpt/system, last human;
    the image, if any, belongs to the first human turn, which then starts with `<image>\\n`."""

    turns: list[tuple[str, str]]
    image: Image.Image | None = None
    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    on_text: object = None  # callable(str) receiving text as it is generated (streaming)
    future: Future = field(default_factory=Future)
    prompt_ids: list[int] = field(default_factory=list)

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0


@dataclass(frozen=True)
class Answer:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" (end of text) or "length" (max_tokens reached)


class _RowStreamer(BaseStreamer):
    """Hands each row of a batch its own new text as generation goes (the transformers streamer hook)."""

    def __init__(self, requests: list[Request], tokenizer, eos: set[int]):
        self.requests, self.tokenizer, self.eos = requests, tokenizer, eos
        self.tokens: list[list[int]] = [[] for _ in requests]
        self.sent = [""] * len(requests)
        self.done = [False] * len(requests)
        self.prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:  # the first call carries the prompts
            self.prompt_seen = True
            return
        for row, token in enumerate(value.reshape(-1).tolist()):
            request = self.requests[row]
            if self.done[row]:
                continue
            if token in self.eos:
                self.done[row] = True
                continue
            self.tokens[row].append(token)
            if len(self.tokens[row]) >= request.max_tokens:
                self.done[row] = True
            text = self.tokenizer.decode(self.tokens[row], skip_special_tokens=True).lstrip()
            # Hold back an incomplete multi-byte character until its next token arrives.
            if request.on_text and not text.endswith("\ufffd") and len(text) > len(self.sent[row]):
                request.on_text(text[len(self.sent[row]):])
                self.sent[row] = text

    def end(self) -> None:
        return None


class Engine:
    """Loads a checkpoint in the background and answers requests in batches on one worker thread."""

    def __init__(self, model_dir: Path, max_batch: int = 16, batch_wait_ms: float = 10.0, system_prompt: str = "",
                 load: bool = True):
        self.model_dir = Path(model_dir)
        self.name = self.model_dir.name
        self.max_batch = max_batch
        self.batch_wait = batch_wait_ms / 1000
        self.system_prompt = system_prompt
        self.queue: queue.Queue[Request] = queue.Queue()
        self.error: str | None = None
        self.ready = threading.Event()
        self.stats = {"requests": 0, "batches": 0, "largest_batch": 0}
        self._worker = threading.Thread(target=self._run, name="scitune-engine", daemon=True)
        if load:
            self._worker.start()

    # -- state -------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        if self.error:
            return "failed"
        return "ready" if self.ready.is_set() else "loading"

    def wait_ready(self, timeout: float | None = None) -> bool:
        self.ready.wait(timeout)
        return self.ready.is_set()

    # -- requests ----------------------------------------------------------------------------
    def submit(self, request: Request) -> Future:
        """Queue REQUEST; its future gets an Answer, or TooLong. Raises NotReady while loading."""
        if not self.ready.is_set():
            raise NotReady(f"model {self.name} is {self.state}" + (f": {self.error}" if self.error else
                                                                 "; try again in a moment"))
        request.prompt_ids = self.encoder.encode_chat(request.turns)
        if self.context and len(request.prompt_ids) + request.max_tokens > self.context:
            raise TooLong(f"the prompt is {len(request.prompt_ids)} tokens; with max_tokens {request.max_tokens} it "
                          f"exceeds the model's context of {self.context} tokens")
        self.queue.put(request)
        return request.future

    def answer(self, request: Request, timeout: float | None = None) -> Answer:
        return self.submit(request).result(timeout)

    # -- worker ------------------------------------------------------------------------------
    def _load(self) -> None:
        started = time.perf_counter()
        self.model, self.processor = load_llava(self.model_dir)
        self.tokenizer = self.processor.tokenizer
        self.encoder = Encoder(self.processor, chat_format(self.tokenizer), self.system_prompt)
        self.eos = [self.tokenizer.eos_token_id]
        self.context = getattr(self.model.config.get_text_config(), "max_position_embeddings", None)
        logger.info("loaded %s in %.1f s", self.model_dir, time.perf_counter() - started)

    def _run(self) -> None:
        try:
            self._load()
        except Exception as error:  # the server stays up and says why
            self.error = f"{type(error).__name__}: {error}"
            logger.error("cannot load %s: %s", self.model_dir, self.error)
            return
        self.ready.set()
        while True:
            batch = [self.queue.get()]
            if batch[0].greedy:
                deadline = time.perf_counter() + self.batch_wait
                while len(batch) < self.max_batch:
                    try:
                        nxt = self.queue.get(timeout=max(0.0, deadline - time.perf_counter()))
                    except queue.Empty:
                        break
                    if not nxt.greedy:  # sampled requests run alone, after this batch
                        self.queue.put(nxt)
                        break
                    batch.append(nxt)
            self._generate(batch)

    def _generate(self, batch: list[Request]) -> None:
        self.stats["requests"] += len(batch)
        self.stats["batches"] += 1
        self.stats["largest_batch"] = max(self.stats["largest_batch"], len(batch))
        first = batch[0]
        sampling = None
        if not first.greedy:
            sampling = {"temperature": first.temperature, "top_p": first.top_p}
            torch.manual_seed(first.seed if first.seed is not None else int(time.time_ns() % 2**31))
        streamer = _RowStreamer(batch, self.tokenizer, set(self.eos)) if any(r.on_text for r in batch) else None
        try:
            with torch.inference_mode():
                rows = generate_ids(self.model, self.processor, [(r.prompt_ids, r.image) for r in batch],
                                    max(r.max_tokens for r in batch), self.eos, sampling, streamer)
        except Exception as error:  # one bad batch must not stop the worker
            logger.exception("generation failed")
            for request in batch:
                request.future.set_exception(error)
            return
        for request, tokens in zip(batch, rows):
            stopped = bool(tokens) and tokens[-1] in self.eos and len(tokens) <= request.max_tokens
            tokens = tokens[: request.max_tokens]
            text = self.tokenizer.decode(tokens, skip_special_tokens=True).strip()
            generated = sum(1 for token in tokens if token not in self.eos)
            request.future.set_result(Answer(text, len(request.prompt_ids), generated, "stop" if stopped else "length"))
