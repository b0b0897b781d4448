"""The serving engine: one model, one worker thread, a bounded queue, continuous batching.

- Admission: at most `max_batch + max_queue` requests are in flight at once (being read, waiting,
  decoding). `reserve` refuses the next one with `Busy` before its body is even read (the API's
  429 with Retry-After), so memory stays bounded whatever the load.
- Continuous batching (`scitune.model.decode.Decoder`): between two decoding steps, finished and
  cancelled rows leave the batch and waiting requests join it (each prefilled alone), so a short
  answer is not held until the longest one in its batch is done. Each row's tokens are the ones it
  gets alone: greedy answers are those of `generate_ids`, the generation core `scitune predict` uses.
- Static batching: the batch is formed once and `generate_ids` runs it to its end. Models the
  step-wise loop cannot reproduce exactly (other families, sliding-window caches, generation
  settings such as a repetition penalty) are served this way, and it is the benchmark's baseline.
- Cancellation: `cancel` (a client that went away) takes a waiting request out of the queue at
  once, and a decoding one out of the batch at the next step (static batching can only stop
  streaming it).
The model loads in the background: until it is ready, `reserve`/`submit` refuse with `NotReady`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from PIL import Image
from transformers.generation.streamers import BaseStreamer

from scitune.model.build import load_for_inference
from scitune.model.decode import Decoder, Decoding, Row, unsupported
from scitune.model.encode import Encoder
from scitune.model.generate import generate_ids, stop_rule
from scitune.model.template import encoder_for

logger = logging.getLogger(__name__)


class NotReady(RuntimeError):
    """The model is still loading (or failed to load)."""


class TooLong(ValueError):
    """The prompt and the requested tokens do not fit the model's context."""


class Busy(RuntimeError):
    """Every place is taken; `retry_after` is a guess, in seconds, of when one frees up."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class Cancelled(RuntimeError):
    """The request was cancelled (its client went away) before it was answered."""


class Slot:
    """One admitted request's place; given back once, when the request is settled (or never queued)."""

    def __init__(self, engine: Engine):
        self._engine, self._held = engine, True

    def release(self) -> None:
        with self._engine._lock:
            if self._held:
                self._held = False
                self._engine._inflight -= 1


@dataclass(eq=False)
class Request:
    """One conversation to answer. `turns` are (role, text) with role human/gpt/system, last human;
    the image, if any, belongs to the first human turn, which then starts with `<image>\\n`."""

    turns: list[tuple[str, str]]
    image: Image.Image | None = None
    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    system: str | None = None
    """The request's own system message; None: the engine's (the one the checkpoint was trained with)."""
    on_text: Callable[[str], None] | None = None
    """Receives the answer's text piece by piece as it is generated (streaming), on the worker thread."""
    future: Future = field(default_factory=Future)
    prompt_ids: list[int] = field(default_factory=list)
    pixel_values: torch.Tensor | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    slot: Slot | None = None
    streamed: str = ""
    taken: bool = False
    """Taken out of the queue by the worker (counted as decoding until settled)."""

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0

    def decoding(self) -> Decoding:
        return Decoding(self.max_tokens, self.temperature, self.top_p, self.seed)


@dataclass(frozen=True)
class Answer:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" (end of text) or "length" (max_tokens reached)


class Engine:
    """Loads a checkpoint in the background and answers requests on one worker thread."""

    def __init__(self, model_dir: Path, max_batch: int = 16, batch_wait_ms: float = 10.0, system_prompt: str = "",
                 load: bool = True, *, max_queue: int = 64,
                 batching: Literal["continuous", "static"] = "continuous", device: str = "auto", dtype: str = "auto"):
        self.model_dir = Path(model_dir)
        self.name = self.model_dir.name
        self.max_batch, self.max_queue = max_batch, max_queue
        self.batch_wait = batch_wait_ms / 1000
        self.system_prompt = system_prompt
        self.batching = batching
        self.device, self.dtype = device, dtype
        self.error: str | None = None
        self.ready = threading.Event()
        self.stats = {"requests": 0, "answered": 0, "cancelled": 0, "failed": 0, "refused_busy": 0, "steps": 0,
                      "batches": 0, "largest_batch": 0}
        self._lock = threading.Condition()
        self._encoding = threading.Lock()
        self._waiting: deque[Request] = deque()
        self._decoding = 0
        self._inflight = 0
        self._finished_at: deque[float] = deque(maxlen=64)
        self._encoders: OrderedDict[str, Encoder] = OrderedDict()
        self._worker = threading.Thread(target=self._run, name="scitune-engine", daemon=True)
        if load:
            self._worker.start()

    # -- state -------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        if self.error:
            return "failed"
        return "ready" if self.ready.is_set() else "loading"

    @property
    def capacity(self) -> int:
        """Requests in flight at most: a full batch and a full queue."""
        return self.max_batch + self.max_queue

    def wait_ready(self, timeout: float | None = None) -> bool:
        self.ready.wait(timeout)
        return self.ready.is_set()

    def load(self) -> dict:
        """What /health shows about the load: waiting, decoding, in flight and capacity."""
        with self._lock:
            return {"queued": len(self._waiting), "decoding": self._decoding, "in_flight": self._inflight,
                    "capacity": self.capacity}

    # -- requests ----------------------------------------------------------------------------
    def reserve(self) -> Slot:
        """A place for one request, before anything about it is read; `Busy` when all are taken."""
        if not self.ready.is_set():
            raise NotReady(f"model {self.name} is {self.state}" + (f": {self.error}" if self.error else
                                                                 "; try again in a moment"))
        with self._lock:
            if self._inflight >= self.capacity:
                self.stats["refused_busy"] += 1
                wait = self._retry_after()
                raise Busy(f"the server is busy ({self._inflight} requests in flight, its limit: {self.max_batch} "
                           f"decoding and {self.max_queue} waiting); retry in {wait} s", wait)
            self._inflight += 1
        return Slot(self)

    def submit(self, request: Request, slot: Slot | None = None) -> Future:
        """Queue REQUEST (in SLOT, else a place reserved now); its future gets an Answer, or the
        exception that stopped it (Cancelled…). Raises NotReady, Busy, TooLong."""
        slot = slot or self.reserve()
        request.slot = slot
        try:
            self._prepare(request)
        except BaseException:
            slot.release()
            raise
        with self._lock:
            self.stats["requests"] += 1
            self._waiting.append(request)
            self._lock.notify()
        return request.future

    def answer(self, request: Request, timeout: float | None = None) -> Answer:
        return self.submit(request).result(timeout)

    def cancel(self, request: Request) -> None:
        """Give up on REQUEST: out of the queue now, out of the batch at the next decoding step."""
        request.cancelled.set()
        with self._lock:
            try:
                self._waiting.remove(request)
            except ValueError:
                return  # decoding (the worker drops it) or already settled
        self._settle(request, error=Cancelled("cancelled before it was answered"))

    def _prepare(self, request: Request) -> None:
        system = self.system_prompt if request.system is None else request.system
        size = request.image.size if request.image is not None else None  # dynamic resolution counts it
        with self._encoding:  # requests are prepared on many threads; the tokenizer is one object
            request.prompt_ids = self._encoder(system).encode_chat(request.turns, size)
        if self.context and len(request.prompt_ids) + request.max_tokens > self.context:
            raise TooLong(f"the prompt is {len(request.prompt_ids)} tokens; with max_tokens {request.max_tokens} it "
                          f"exceeds the model's context of {self.context} tokens")
        if request.image is not None and self.decoder is not None:  # pixels are smaller than a large image
            request.pixel_values = self.decoder.pixel_values(request.image)
            request.image = None

    def _encoder(self, system: str) -> Encoder:
        with self._lock:
            if system in self._encoders:
                self._encoders.move_to_end(system)
                return self._encoders[system]
        encoder = encoder_for(self.processor, system)  # any model family: see model/template.py
        with self._lock:
            self._encoders[system] = encoder
            while len(self._encoders) > 16:
                self._encoders.popitem(last=False)
        return encoder

    def _retry_after(self) -> int:
        """Seconds until a place is likely free, from the recent pace of answers (1 to 60)."""
        done = self._finished_at
        if len(done) < 2 or done[-1] <= done[0]:
            return 1
        rate = (len(done) - 1) / (done[-1] - done[0])
        return max(1, min(60, math.ceil((len(self._waiting) + 1) / rate)))

    def _settle(self, request: Request, answer: Answer | None = None, error: BaseException | None = None) -> None:
        """Resolve REQUEST's future once, give its place back, let go of its image."""
        try:
            if answer is not None:
                request.future.set_result(answer)
            else:
                request.future.set_exception(error)
        except InvalidStateError:
            return
        key = "answered" if answer is not None else "cancelled" if isinstance(error, Cancelled) else "failed"
        with self._lock:
            self.stats[key] += 1
            self._decoding -= request.taken
            if answer is not None:
                self._finished_at.append(time.perf_counter())
        request.image = request.pixel_values = request.on_text = None
        if request.slot:
            request.slot.release()

    # -- worker ------------------------------------------------------------------------------
    def _load(self) -> None:
        started = time.perf_counter()
        self.model, self.processor = load_for_inference(self.model_dir, self.device, self.dtype)
        self.tokenizer = self.processor.tokenizer
        self.rule = stop_rule(self.processor, self.model)
        self.context = getattr(self.model.config.get_text_config(), "max_position_embeddings", None)
        self.decoder = None
        if self.batching == "continuous":
            reason = unsupported(self.model)
            if reason:
                logger.warning("continuous batching is off for %s (%s): batches run to their end", self.name, reason)
                self.batching = "static"
            else:
                self.decoder = Decoder(self.model, self.processor, max_rows=self.max_batch)
        self.encoder = self._encoder(self.system_prompt)
        logger.info("loaded %s in %.1f s (%s batching)", self.model_dir, time.perf_counter() - started, self.batching)

    def _run(self) -> None:
        try:
            self._load()
        except Exception as error:  # the server stays up and says why
            self.error = f"{type(error).__name__}: {error}"
            logger.error("cannot load %s: %s", self.model_dir, self.error)
            return
        self.ready.set()
        if self.decoder is not None:
            self._run_continuous()
        else:
            self._run_static()

    def _take(self) -> Request:
        """The next waiting request, now counted as decoding (call with the lock held)."""
        request = self._waiting.popleft()
        request.taken = True
        self._decoding += 1
        return request

    def _run_continuous(self) -> None:
        decoder = self.decoder
        while True:
            with self._lock:
                while not self._waiting and not decoder.rows:
                    self._lock.wait()
                joining = [self._take() for _ in range(min(self.max_batch - len(decoder.rows), len(self._waiting)))]
            try:
                self._continue(decoder, joining)
            except Exception as error:  # a failed step fails its rows; the worker goes on
                logger.exception("decoding failed")
                for request in [row.key for row in decoder.rows] + joining:
                    self._settle(request, error=error)
                decoder.reset()

    def _continue(self, decoder: Decoder, joining: list[Request]) -> None:
        """One turn of continuous batching: JOINING requests are prefilled into the batch, cancelled
        rows leave it, and every row advances by one token."""
        for request in joining:
            if request.cancelled.is_set():
                self._settle(request, error=Cancelled("cancelled before it was answered"))
                continue
            try:
                row = decoder.join(request, request.prompt_ids, request.pixel_values, request.decoding())
            except Exception as error:  # one bad request must not stop the others
                logger.exception("prefill failed")
                self._settle(request, error=error)
                continue
            request.pixel_values = None  # in the KV cache now
            self._emit(row)
        gone = [row for row in decoder.rows if row.key.cancelled.is_set()]
        if gone:
            decoder.drop(gone)
            for row in gone:
                self._settle(row.key, error=Cancelled("cancelled while it was being answered"))
        self.stats["largest_batch"] = max(self.stats["largest_batch"], len(decoder.rows))
        if decoder.rows:
            rows = decoder.step()
            self.stats["steps"] += 1
            for row in rows:
                self._emit(row)

    def _emit(self, row: Row) -> None:
        request: Request = row.key
        if request.on_text:
            self._stream(request, row.tokens)
        if row.finish:
            self._settle(request, self._answer(request, row.tokens, row.finish))

    def _answer(self, request: Request, tokens: list[int], finish: str) -> Answer:
        text = self.tokenizer.decode(tokens, skip_special_tokens=True).strip()
        generated = sum(1 for token in tokens if token not in self.rule.token_ids)
        return Answer(text, len(request.prompt_ids), generated, finish)

    def _stream(self, request: Request, tokens: list[int]) -> None:
        """Hand the client the text it has not seen; an incomplete character, or a tail that may be
        the start of a stop string (cut from the answer if it completes), waits for the next token."""
        text = self.tokenizer.decode(tokens, skip_special_tokens=True).lstrip()
        if text.endswith("\ufffd"):
            return
        found = [text.find(s) for s in self.rule.strings if s in text]
        if found:  # the model began a next turn: the answer ends before it
            text = text[:min(found)]
        held = max((k for s in self.rule.strings for k in range(1, len(s)) if text.endswith(s[:k])), default=0)
        text = text[:len(text) - held]
        if len(text) <= len(request.streamed) or not text.startswith(request.streamed):
            return
        piece, request.streamed = text[len(request.streamed):], text
        try:
            request.on_text(piece)
        except Exception:  # the receiving end is gone
            logger.warning("streaming to a client failed; cancelling its request", exc_info=True)
            request.cancelled.set()

    # -- static batching ---------------------------------------------------------------------
    def _run_static(self) -> None:
        while True:
            with self._lock:
                while not self._waiting:
                    self._lock.wait()
                batch = [self._take()]
                deadline = time.perf_counter() + self.batch_wait
                while batch[0].greedy and len(batch) < self.max_batch:
                    if self._waiting:
                        if not self._waiting[0].greedy:  # sampled requests run alone, after this batch
                            break
                        batch.append(self._take())
                    elif deadline <= time.perf_counter() or not self._lock.wait(deadline - time.perf_counter()):
                        break
            for request in [r for r in batch if r.cancelled.is_set()]:
                self._settle(request, error=Cancelled("cancelled before it was answered"))
            batch = [r for r in batch if not r.cancelled.is_set()]
            if batch:
                self._generate_static(batch)

    def _generate_static(self, batch: list[Request]) -> None:
        self.stats["batches"] += 1
        self.stats["largest_batch"] = max(self.stats["largest_batch"], len(batch))
        first = batch[0]
        sampling = None
        if not first.greedy:
            sampling = {"temperature": first.temperature, "top_p": first.top_p}
            torch.manual_seed(first.seed if first.seed is not None else int(time.time_ns() % 2**31))
        streamer = _RowStreamer(self, batch) if any(r.on_text for r in batch) else None
        try:
            with torch.inference_mode():
                rows = generate_ids(self.model, self.processor, [(r.prompt_ids, r.image) for r in batch],
                                    max(r.max_tokens for r in batch), None, sampling, streamer)
        except Exception as error:  # one bad batch must not stop the worker
            logger.exception("generation failed")
            for request in batch:
                self._settle(request, error=error)
            return
        for request, tokens in zip(batch, rows):
            if request.cancelled.is_set():
                self._settle(request, error=Cancelled("cancelled while it was being answered"))
                continue
            stopped = bool(tokens) and tokens[-1] in self.rule.token_ids and len(tokens) <= request.max_tokens
            self._settle(request, self._answer(request, tokens[: request.max_tokens], "stop" if stopped else "length"))


class _RowStreamer(BaseStreamer):
    """Static batching: hands each row its new text as `generate` goes (the transformers streamer hook)."""

    def __init__(self, engine: Engine, requests: list[Request]):
        self.engine, self.requests = engine, requests
        self.tokens: list[list[int]] = [[] for _ in requests]
        self.done = [False] * len(requests)
        self.prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:  # the first call carries the prompts
            self.prompt_seen = True
            return
        for row, token in enumerate(value.reshape(-1).tolist()):
            request = self.requests[row]
            if self.done[row] or request.cancelled.is_set():
                continue
            if token in self.engine.rule.token_ids:
                self.done[row] = True
                continue
            self.tokens[row].append(token)
            self.done[row] = len(self.tokens[row]) >= request.max_tokens
            if request.on_text:
                self.engine._stream(request, self.tokens[row])

    def end(self) -> None:
        return None
