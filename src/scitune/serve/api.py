"""The OpenAI-compatible HTTP API: `POST /v1/chat/completions`, `GET /v1/models`, `GET /health`.

Requests are parsed by hand from the raw body so that every limit (body size, malformed JSON,
image bytes and pixels, number of images, max_tokens, unknown model) gets a 4xx with a message
saying which limit and how to stay within it; errors use OpenAI's `{"error": {...}}` shape, so
any OpenAI client shows them. Answers come from the batching engine; `stream: true` sends
server-sent events as the tokens are generated.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import json
import os
import re
import time
import uuid
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlparse

from fastapi import FastAPI, Request as HttpRequest
from fastapi.responses import JSONResponse, StreamingResponse
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scitune.config import ServeConfig
from scitune.contracts import IMAGE_PLACEHOLDER
from scitune.serve.engine import Engine, NotReady, Request, TooLong
from scitune.sources.images import ImageError, resolve_image


class ApiError(Exception):
    """An error answered with STATUS and an OpenAI-style body."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.param = status, message, kind, param


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


_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(?:;[\w.+-]+=[\w.+-]+)*)(?P<b64>;base64)?,",
                       re.IGNORECASE)


def decode_image(url: str, cfg: ServeConfig) -> Image.Image:
    """An image from a data URL (base64) or a file URL inside the allowed folder, within the limits."""
    if url.startswith("data:"):
        match = _DATA_URL.match(url)
        if not match or not match["b64"]:
            raise ApiError(400, "image data URL must be base64: data:image/png;base64,<data>", param="image_url")
        try:
            data = base64.b64decode(url[match.end():], validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, "image data URL is not valid base64", param="image_url") from None
    elif url.startswith("file:"):
        if cfg.allowed_image_dir is None:
            raise ApiError(403, "file:// image URLs are refused: start the server with --allow-image-dir DIR to "
                                "allow files inside DIR, or send the image as a data URL", param="image_url")
        asked = unquote(urlparse(url).path)
        try:  # the one inside-the-root rule of every image consumer
            path = resolve_image(cfg.allowed_image_dir, asked, "image_url")
        except ImageError as error:
            if error.kind == "outside_image_root":
                raise ApiError(403, f"file {asked} is outside the allowed image folder", param="image_url") from None
            raise ApiError(400, f"file {asked} does not exist", param="image_url") from None
        if os.path.getsize(path) > cfg.max_image_bytes:
            raise ApiError(413, f"image file is larger than {cfg.max_image_bytes} bytes", param="image_url")
        data = Path(path).read_bytes()
    else:
        raise ApiError(400, "image URLs must be data: (base64) or file: URLs; remote URLs are not fetched",
                       param="image_url")
    if len(data) > cfg.max_image_bytes:
        raise ApiError(413, f"image is {len(data)} bytes, more than the limit of {cfg.max_image_bytes}",
                       param="image_url")
    try:
        image = Image.open(io.BytesIO(data))
        width, height = image.size
        if width * height > cfg.max_image_pixels:
            raise ApiError(413, f"image is {width}x{height} pixels, more than the limit of {cfg.max_image_pixels}",
                           param="image_url")
        return image.convert("RGB")
    except ApiError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ApiError(400, f"image_url does not hold a readable image: {error}", param="image_url") from None


def to_request(chat: ChatRequest, cfg: ServeConfig) -> Request:
    """OpenAI messages → our turns (the image goes where it was sent, as `<image>\\n` before that text)."""
    turns: list[tuple[str, str]] = []
    image = None
    for message in chat.messages:
        parts = [Part(type="text", text=message.content)] if isinstance(message.content, str) else (message.content or [])
        texts = []
        for part in parts:
            if part.type == "text":
                if IMAGE_PLACEHOLDER in (part.text or ""):
                    raise ApiError(400, f"text may not contain {IMAGE_PLACEHOLDER}; send images as image_url parts")
                texts.append(part.text or "")
            else:
                if message.role != "user":
                    raise ApiError(400, "images may only be sent in user messages", param="messages")
                if image is not None or cfg.max_images < 1:
                    raise ApiError(400, f"at most {cfg.max_images} image(s) per request", param="messages")
                if part.image_url is None:
                    raise ApiError(400, "an image_url part needs image_url.url", param="messages")
                image = decode_image(part.image_url.url, cfg)
                texts.insert(0, IMAGE_PLACEHOLDER)
        text = "\n".join(t for t in texts if t)
        role = {"user": "human", "assistant": "gpt"}.get(message.role, "system")
        turns.append((role, text))
    if turns[-1][0] != "human":
        raise ApiError(400, "the last message must be the user's", param="messages")
    max_tokens = chat.max_completion_tokens or chat.max_tokens or cfg.default_max_tokens
    if max_tokens > cfg.max_tokens:
        raise ApiError(400, f"max_tokens {max_tokens} is more than this server allows ({cfg.max_tokens})",
                       param="max_tokens")
    return Request(turns=turns, image=image, max_tokens=max_tokens, temperature=chat.temperature or 0.0,
                   top_p=chat.top_p or 1.0, seed=chat.seed)


async def read_body(request: HttpRequest, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"request body is {declared} bytes, more than the limit of {limit}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, f"request body is more than the limit of {limit} bytes")
    return bytes(body)


def create_app(engine: Engine, cfg: ServeConfig) -> FastAPI:
    app = FastAPI(title="SciTune", description="OpenAI-compatible chat completions for a SciTune model.")

    @app.exception_handler(ApiError)
    async def api_error(_request, error: ApiError) -> JSONResponse:
        headers = {"Retry-After": "5"} if error.status == 503 else None
        return JSONResponse({"error": {"message": error.message, "type": error.kind, "param": error.param,
                                       "code": error.status}}, status_code=error.status, headers=headers)

    @app.get("/health")
    async def health() -> JSONResponse:
        body = {"status": engine.state, "model": engine.name, "queued": engine.queue.qsize(), **engine.stats}
        if engine.error:
            body["error"] = engine.error
        return JSONResponse(body, status_code=200 if engine.state == "ready" else 503)

    @app.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [{"id": engine.name, "object": "model", "created": 0,
                                            "owned_by": "scitune"}]}

    @app.post("/v1/chat/completions")
    async def chat_completions(http: HttpRequest):
        body = await read_body(http, cfg.max_body_bytes)
        try:
            data = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ApiError(400, f"request body is not valid JSON: {error}") from None
        try:
            chat = ChatRequest.model_validate(data)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:5])
            raise ApiError(400, f"invalid request: {problems}") from None
        if chat.model != engine.name:
            raise ApiError(404, f"model '{chat.model}' is not served here; this server serves '{engine.name}' "
                                "(GET /v1/models)", kind="not_found_error", param="model")
        request = to_request(chat, cfg)
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue[str] = asyncio.Queue()
        if chat.stream:
            request.on_text = lambda text: loop.call_soon_threadsafe(pieces.put_nowait, text)
        try:
            future = engine.submit(request)
        except NotReady as error:
            raise ApiError(503, str(error), kind="server_not_ready") from None
        except TooLong as error:
            raise ApiError(400, str(error), param="messages") from None
        ident, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        if not chat.stream:
            answer = await asyncio.wrap_future(future)
            return {"id": ident, "object": "chat.completion", "created": created, "model": engine.name,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text},
                                 "finish_reason": answer.finish_reason}],
                    "usage": {"prompt_tokens": answer.prompt_tokens, "completion_tokens": answer.completion_tokens,
                              "total_tokens": answer.prompt_tokens + answer.completion_tokens}}
        return StreamingResponse(_events(ident, created, engine.name, future, pieces),
                                 media_type="text/event-stream")

    return app


async def _events(ident: str, created: int, model: str, future, pieces: asyncio.Queue):
    def chunk(delta: dict, finish: str | None = None) -> str:
        return "data: " + json.dumps({"id": ident, "object": "chat.completion.chunk", "created": created,
                                      "model": model, "choices": [{"index": 0, "delta": delta,
                                                                   "finish_reason": finish}]}) + "\n\n"

    yield chunk({"role": "assistant", "content": ""})
    sent = ""
    done = asyncio.wrap_future(future)
    while True:
        getter = asyncio.ensure_future(pieces.get())
        finished, _ = await asyncio.wait({getter, done}, return_when=asyncio.FIRST_COMPLETED)
        if getter in finished:
            sent += getter.result()
            yield chunk({"content": getter.result()})
            continue
        getter.cancel()
        while not pieces.empty():
            piece = pieces.get_nowait()
            sent += piece
            yield chunk({"content": piece})
        break
    answer = done.result()
    if answer.text.startswith(sent) and len(answer.text) > len(sent):
        yield chunk({"content": answer.text[len(sent):]})  # a held-back tail, if any
    yield chunk({}, answer.finish_reason)
    yield "data: [DONE]\n\n"
