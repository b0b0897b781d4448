"""The limits every way into the server checks the same way (the API and the web UI): image bytes and
pixels (read from the header, before any decoding), body size, max_tokens, the `<image>` placeholder
in user text. A breach is a `Refused` carrying the HTTP status and a message saying which limit and
how to stay within it; the API answers it as an OpenAI-style error, the UI shows the message.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

from PIL import Image

from scitune.config import ServeConfig
from scitune.contracts import IMAGE_PLACEHOLDER
from scitune.sources.images import ImageError, resolve_image


class Refused(Exception):
    """A request refused with STATUS and a message for the client (OpenAI's error `type` is KIND)."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", param: str | None = None,
                 retry_after: int | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.param, self.retry_after = status, message, kind, param, retry_after


_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(?:;[\w.+-]+=[\w.+-]+)*)(?P<b64>;base64)?,",
                       re.IGNORECASE)


def image_from_bytes(data: bytes, cfg: ServeConfig) -> Image.Image:
    """An RGB image from encoded DATA within the byte and pixel limits (pixels read from the header)."""
    if len(data) > cfg.max_image_bytes:
        raise Refused(413, f"image is {len(data)} bytes, more than the limit of {cfg.max_image_bytes}",
                      param="image_url")
    try:
        image = Image.open(io.BytesIO(data))
        width, height = image.size
        if width * height > cfg.max_image_pixels:
            raise Refused(413, f"image is {width}x{height} pixels, more than the limit of {cfg.max_image_pixels}",
                          param="image_url")
        return image.convert("RGB")
    except Refused:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise Refused(400, f"image_url does not hold a readable image: {error}", param="image_url") from None


def image_from_file(path: Path, cfg: ServeConfig) -> Image.Image:
    """An image file (checked in size before it is read) within the limits."""
    size = os.path.getsize(path)
    if size > cfg.max_image_bytes:
        raise Refused(413, f"image file is {size} bytes, more than the limit of {cfg.max_image_bytes}",
                      param="image_url")
    return image_from_bytes(Path(path).read_bytes(), cfg)


def image_from_url(url: str, cfg: ServeConfig) -> Image.Image:
    """An image from a data URL (base64) or a file URL inside the allowed folder, within the limits."""
    if url.startswith("data:"):
        match = _DATA_URL.match(url)
        if not match or not match["b64"]:
            raise Refused(400, "image data URL must be base64: data:image/png;base64,<data>", param="image_url")
        encoded = url[match.end():]
        if len(encoded) * 3 // 4 > cfg.max_image_bytes + 2:  # refused before decoding
            raise Refused(413, f"image is about {len(encoded) * 3 // 4} bytes, more than the limit of "
                               f"{cfg.max_image_bytes}", param="image_url")
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise Refused(400, "image data URL is not valid base64", param="image_url") from None
        return image_from_bytes(data, cfg)
    if url.startswith("file:"):
        if cfg.allowed_image_dir is None:
            raise Refused(403, "file:// image URLs are refused: start the server with --allow-image-dir DIR to "
                               "allow files inside DIR, or send the image as a data URL", param="image_url")
        asked = unquote(urlparse(url).path)
        try:  # the one inside-the-root rule of every image consumer
            path = resolve_image(cfg.allowed_image_dir, asked, "image_url")
        except ImageError as error:
            if error.kind == "outside_image_root":
                raise Refused(403, f"file {asked} is outside the allowed image folder", param="image_url") from None
            raise Refused(400, f"file {asked} does not exist", param="image_url") from None
        return image_from_file(path, cfg)
    raise Refused(400, "image URLs must be data: (base64) or file: URLs; remote URLs are not fetched",
                  param="image_url")


def check_max_tokens(max_tokens: int, cfg: ServeConfig) -> int:
    """MAX_TOKENS if the server allows it (at least 1, at most `cfg.max_tokens`)."""
    if max_tokens > cfg.max_tokens:
        raise Refused(400, f"max_tokens {max_tokens} is more than this server allows ({cfg.max_tokens})",
                      param="max_tokens")
    if max_tokens < 1:
        raise Refused(400, f"max_tokens must be at least 1, not {max_tokens}", param="max_tokens")
    return max_tokens


def check_text(text: str, cfg: ServeConfig) -> str:
    """User TEXT if it fits the body limit and carries no image placeholder of its own."""
    if len(text.encode("utf-8", "replace")) > cfg.max_body_bytes:
        raise Refused(413, f"the text is more than the limit of {cfg.max_body_bytes} bytes")
    if IMAGE_PLACEHOLDER in text:
        raise Refused(400, f"text may not contain {IMAGE_PLACEHOLDER}; send images as image_url parts")
    return text
