"""Images from untrusted records: paths kept inside the image root, size limits, decode checks.

Every reader and every consumer (curation, training, evaluation, the HTML pages) opens images
through here, so one rule decides what counts as a readable image.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from PIL import Image

ImageCheck = Literal["none", "header", "decode"]
"""none: trust the record; header: the file exists, is an image and within the pixel limit;
decode: also decode every pixel (finds truncated and corrupt files)."""

DEFAULT_MAX_PIXELS = 89_478_485
"""Pillow's own decompression-bomb threshold (≈ 9459² pixels); configurable per call."""


class ImageError(ValueError):
    """An image that cannot be used; KIND says why in one stable word for counting."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@lru_cache(maxsize=64)
def _real_root(image_root: str) -> str:
    return os.path.realpath(image_root)


def resolve_image(image_root: Path, relative: str, item_id: str, must_exist: bool = True) -> Path:
    """The image path, refusing paths that leave the image root (../, absolute, symlinks out)."""
    root = _real_root(str(image_root))
    path = os.path.realpath(os.path.join(root, relative))
    if not path.startswith(root.rstrip(os.sep) + os.sep):
        raise ImageError("outside_image_root", f"item {item_id}: image {relative} is outside the image root {root}")
    if must_exist and not os.path.isfile(path):
        raise ImageError("missing_image", f"item {item_id}: image {path} does not exist")
    return Path(path)


def inside_root(image_root: Path | str, relative: str, item_id: str) -> str:
    """The lexical form of `resolve_image` for records whose files are not opened now: refuses
    absolute paths and '..' that climb out; symlinks are judged by `resolve_image` when the file is
    finally opened (training, evaluation)."""
    root = _real_root(str(image_root))
    if relative and relative[0] != os.sep and relative[-1] != os.sep and "//" not in relative \
            and "/." not in f"/{relative}":
        # Already normal (no '.', '..' or empty parts): what normpath(join()) returns, for a fraction
        # of its cost (curation without image checks does this for every record).
        return root.rstrip(os.sep) + os.sep + relative
    path = os.path.normpath(os.path.join(root, relative))
    if not path.startswith(root.rstrip(os.sep) + os.sep):
        raise ImageError("outside_image_root", f"item {item_id}: image {relative} is outside the image root {root}")
    return path


def check_image(path: Path, item_id: str, level: ImageCheck = "decode", max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """Raise ValueError naming the item when the image at PATH fails the LEVEL check."""
    if level == "none":
        return
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise ImageError("too_many_pixels", f"item {item_id}: image {path.name} has {width}x{height} pixels, more than the "
                                 f"limit of {max_pixels} (a decompression bomb?)")
            if level == "decode":
                image.load()
    except (OSError, SyntaxError, Image.DecompressionBombError) as error:
        raise ImageError("unreadable_image", f"item {item_id}: image {path.name} cannot be read: {error}") from None


def load_image(image_root: Path, relative: str, item_id: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """The image as RGB; ValueError naming the item when it is missing, outside the root or unreadable."""
    path = resolve_image(image_root, relative, item_id)
    check_image(path, item_id, "header", max_pixels)
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, SyntaxError, Image.DecompressionBombError) as error:
        raise ImageError("unreadable_image", f"item {item_id}: image {path} cannot be read: {error}") from None


def file_digest(path: Path) -> str:
    """SHA-1 of the file's bytes: the identity of an image for deduplication and the OCR cache."""
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_SUFFIX = {b"\x89PNG": ".png", b"\xff\xd8\xff": ".jpg", b"GIF8": ".gif", b"RIFF": ".webp", b"BM": ".bmp"}


def store_image(data: bytes, image_dir: Path | None) -> str:
    """Write image bytes once under their SHA-1 (names from the file never become paths); returns
    the path relative to IMAGE_DIR. Atomic, so a killed run never leaves half an image behind.
    IMAGE_DIR None only names the file (scoring needs no pixels)."""
    suffix = next((s for magic, s in _SUFFIX.items() if data.startswith(magic)), ".bin")
    name = hashlib.sha1(data).hexdigest() + suffix
    if image_dir is None:
        return f"{name[:2]}/{name}"
    target = Path(image_dir) / name[:2] / name
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
    return f"{name[:2]}/{name}"
