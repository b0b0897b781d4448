"""The OpenAI-compatible HTTP API: `POST /v1/chat/completions`, `GET /v1/models`, `GET /health`.

A request first gets a place from the engine (429 with Retry-After when every place is taken, before
its body is read); then its body is parsed by hand off the event loop, so that every limit (body
size, malformed JSON, image bytes and pixels, number of images, max_tokens, unknown model) gets a
4xx with a message saying which limit and how to stay within it (`serve/limits.py`, shared with the
web UI). Errors use OpenAI's `{"error": {...}}` shape, so any OpenAI client shows them. A client
that disconnects, streaming or not, has its request cancelled: it leaves the queue or the batch.
`stream: true` sends server-sent events as the tokens are generated.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Literal

from fastapi import FastAPI, Request as HttpRequest
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from scitune.config import ServeConfig
from scitune.contracts import IMAGE_PLACEHOLDER
from scitune.serve.engine import Busy, Engine, NotReady, Request, TooLong
from scitune.serve.limits import Refused, check_max_tokens, check_text, image_from_url

logger = logging.getLogger(__name__)

CLIENT_CLOSED = 499
"""Status logged for a request whose client went away (nginx's convention); nobody receives it."""


class ImageUrl(BaseModel):
    url: str
    detail: str | None = None


class Part(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["text", "image_url"]
    text: str | None = None
    image_url: ImageUrl | None = None


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[Part] | None = None


class ChatRequest(BaseModel):
    """The fields of OpenAI's chat completion request that this server honours (others are ignored)."""

    model_config = ConfigDict(extra="ignore")
    model: str
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    seed: int | None = None
    stream: bool = False
    n: int = Field(1, ge=1, le=1)


def _texts(message: Message) -> list[Part]:
    return [Part(type="text", text=message.content)] if isinstance(message.content, str) else (message.content or [])


def to_request(chat: ChatRequest, cfg: ServeConfig) -> Request:
    """OpenAI messages → our turns (the image goes where it was sent, as `<image>\\n` before that
    text). Leading system/developer messages are the request's system prompt (replacing the
    server's); later ones stay system turns where they were."""
    messages = list(chat.messages)
    system = []
    while messages and messages[0].role in ("system", "developer"):
        system.append("\n".join(check_text(p.text or "", cfg) for p in _texts(messages.pop(0)) if p.type == "text"))
    turns: list[tuple[str, str]] = []
    image = None
    for message in messages:
        texts = []
        for part in _texts(message):
            if part.type == "text":
                texts.append(check_text(part.text or "", cfg))
            else:
                if message.role != "user":
                    raise Refused(400, "images may only be sent in user messages", param="messages")
                if image is not None or cfg.max_images < 1:
                    raise Refused(400, f"at most {cfg.max_images} image(s) per request", param="messages")
                if part.image_url is None:
                    raise Refused(400, "an image_url part needs image_url.url", param="messages")
                image = image_from_url(part.image_url.url, cfg)
                texts.insert(0, IMAGE_PLACEHOLDER)
        text = "\n".join(t for t in texts if t)
        role = {"user": "human", "assistant": "gpt"}.get(message.role, "system")
        turns.append((role, text))
    if not turns or turns[-1][0] != "human":
        raise Refused(400, "the last message must be the user's", param="messages")
    max_tokens = check_max_tokens(chat.max_completion_tokens or chat.max_tokens or cfg.default_max_tokens, cfg)
    return Request(turns=turns, image=image, max_tokens=max_tokens, temperature=chat.temperature or 0.0,
                   top_p=chat.top_p or 1.0, seed=chat.seed, system="\n\n".join(system) if system else None)


async def read_body(request: HttpRequest, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise Refused(413, f"request body is {declared} bytes, more than the limit of {limit}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Refused(413, f"request body is more than the limit of {limit} bytes")
    return bytes(body)


def parse(body: bytes, engine: Engine, cfg: ServeConfig) -> tuple[ChatRequest, Request]:
    """The request in BODY, checked against every limit (CPU work: run it off the event loop)."""
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise Refused(400, f"request body is not valid JSON: {error}") from None
    try:
        chat = ChatRequest.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:5])
        raise Refused(400, f"invalid request: {problems}") from None
    if chat.model != engine.name:
        raise Refused(404, f"model '{chat.model}' is not served here; this server serves '{engine.name}' "
                           "(GET /v1/models)", kind="not_found_error", param="model")
    return chat, to_request(chat, cfg)


async def _disconnected(http: HttpRequest) -> None:
    """Returns when the client has gone (the body is read by then, so the next message says so)."""
    while (await http.receive())["type"] != "http.disconnect":
        pass


def create_app(engine: Engine, cfg: ServeConfig) -> FastAPI:
    app = FastAPI(title="SciTune", description="OpenAI-compatible chat completions for a SciTune model.")

    @app.exception_handler(Refused)
    async def refused(_request, error: Refused) -> JSONResponse:
        headers = {"Retry-After": str(error.retry_after)} if error.retry_after else None
        return JSONResponse({"error": {"message": error.message, "type": error.kind, "param": error.param,
                                       "code": error.status}}, status_code=error.status, headers=headers)

    @app.get("/health")
    async def health() -> JSONResponse:
        body = {"status": engine.state, "model": engine.name, **engine.load(), **engine.stats}
        if engine.error:
            body["error"] = engine.error
        return JSONResponse(body, status_code=200 if engine.state == "ready" else 503)

    @app.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [{"id": engine.name, "object": "model", "created": 0,
                                            "owned_by": "scitune"}]}

    @app.post("/v1/chat/completions")
    async def chat_completions(http: HttpRequest):
        try:
            slot = engine.reserve()
        except NotReady as error:
            raise Refused(503, str(error), kind="server_not_ready", retry_after=5) from None
        except Busy as error:
            raise Refused(429, str(error), kind="server_busy", retry_after=error.retry_after) from None
        try:
            body = await read_body(http, cfg.max_body_bytes)
            chat, request = await run_in_threadpool(parse, body, engine, cfg)
            del body
            loop = asyncio.get_running_loop()
            pieces: asyncio.Queue[str] = asyncio.Queue()
            if chat.stream:
                request.on_text = lambda text: loop.call_soon_threadsafe(pieces.put_nowait, text)
            try:
                await run_in_threadpool(engine.submit, request, slot)
            except TooLong as error:
                raise Refused(400, str(error), param="messages") from None
        except BaseException:
            slot.release()  # never queued: its place is free again (idempotent once queued)
            raise
        ident, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        if chat.stream:
            return StreamingResponse(_events(ident, created, engine, request, pieces, http),
                                     media_type="text/event-stream")
        done = asyncio.wrap_future(request.future)
        gone = asyncio.ensure_future(_disconnected(http))
        answered = False
        try:
            await asyncio.wait({done, gone}, return_when=asyncio.FIRST_COMPLETED)
            answered = done.done()
        finally:  # the client went away, or this handler was cancelled (server shutting down)
            gone.cancel()
            if not answered:
                engine.cancel(request)
                logger.info("client went away; request cancelled")
        if not answered:
            return JSONResponse({"error": {"message": "client closed the request", "type": "cancelled",
                                           "param": None, "code": CLIENT_CLOSED}}, status_code=CLIENT_CLOSED)
        answer = done.result()
        return {"id": ident, "object": "chat.completion", "created": created, "model": engine.name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text},
                             "finish_reason": answer.finish_reason}],
                "usage": {"prompt_tokens": answer.prompt_tokens, "completion_tokens": answer.completion_tokens,
                          "total_tokens": answer.prompt_tokens + answer.completion_tokens}}

    return app


async def _events(ident: str, created: int, engine: Engine, request: Request, pieces: asyncio.Queue,
                  http: HttpRequest):
    """Server-sent events of one answer; the request is cancelled if the client goes away first."""

    def chunk(delta: dict, finish: str | None = None) -> str:
        return "data: " + json.dumps({"id": ident, "object": "chat.completion.chunk", "created": created,
                                      "model": engine.name, "choices": [{"index": 0, "delta": delta,
                                                                         "finish_reason": finish}]}) + "\n\n"

    done = asyncio.wrap_future(request.future)
    gone = asyncio.ensure_future(_disconnected(http))
    try:
        yield chunk({"role": "assistant", "content": ""})
        sent = ""
        while True:
            getter = asyncio.ensure_future(pieces.get())
            finished, _ = await asyncio.wait({getter, done, gone}, return_when=asyncio.FIRST_COMPLETED)
            if getter in finished:
                sent += getter.result()
                yield chunk({"content": getter.result()})
                continue
            getter.cancel()
            if gone in finished:
                return
            while not pieces.empty():
                piece = pieces.get_nowait()
                sent += piece
                yield chunk({"content": piece})
            break
        if done.exception() is not None:  # failed in the worker: say so in the stream, the status is sent
            yield "data: " + json.dumps({"error": {"message": str(done.exception()), "type": "server_error"}}) + "\n\n"
            return
        answer = done.result()
        if answer.text.startswith(sent) and len(answer.text) > len(sent):
            yield chunk({"content": answer.text[len(sent):]})  # a held-back tail, if any
        yield chunk({}, answer.finish_reason)
        yield "data: [DONE]\n\n"
    finally:  # finished, or the client went away (noticed here, or the server closed the stream)
        gone.cancel()
        if not request.future.done():
            engine.cancel(request)
            logger.info("streaming client went away; request cancelled")
