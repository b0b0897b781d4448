"""A self-contained HTML page per evaluation: score tables, plots, right and wrong examples with images.

Images are embedded as small base64 thumbnails, so the page can be mailed or archived on its own.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from scitune.sources.images import load_image

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}
tr.ours td{font-weight:bold;background:#eef5ff}
.examples{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:12px}
.ex{border:1px solid #ddd;border-radius:6px;padding:8px;font-size:13px}
.ex.right{border-left:5px solid #2a2}.ex.wrong{border-left:5px solid #c33}
.ex img{max-width:100%;max-height:180px;display:block;margin-bottom:6px}
.ex pre{white-space:pre-wrap;margin:4px 0;background:#f7f7f7;padding:4px}
img.plot{max-width:100%}
"""


@dataclass
class Example:
    """One evaluated item as shown on the page."""

    id: str
    prompt: str
    prediction: str
    expected: str
    correct: bool | None
    image: str | None = None


def thumbnail(image_root: Path, path: str, item_id: str, size: int = 256) -> str | None:
    """A PNG data URL of the image, at most SIZE pixels on a side; None when it cannot be read."""
    try:
        image = load_image(image_root, path, item_id)
    except ValueError:
        return None
    image = image.copy()
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def table(header: list[str], rows: list[list], highlight: int | None = None) -> str:
    def cell(value) -> str:
        if value is None:
            return "n/a"
        return f"{value:.2f}" if isinstance(value, float) else html.escape(str(value))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        f"<tr{' class=ours' if n == highlight else ''}>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>"
        for n, row in enumerate(rows)
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def examples_html(examples: list[Example], image_root: Path) -> str:
    cards = []
    for ex in examples:
        state = "" if ex.correct is None else ("right" if ex.correct else "wrong")
        src = thumbnail(image_root, ex.image, ex.id) if ex.image else None
        cards.append(
            f"<div class='ex {state}'><b>{html.escape(ex.id)}</b> {'✓' if ex.correct else '✗' if state else ''}"
            + (f"<img src='{src}' alt='{html.escape(ex.image)}'>" if src else "")
            + f"<div>prompt</div><pre>{html.escape(ex.prompt)}</pre>"
            + f"<div>model</div><pre>{html.escape(ex.prediction) or '(empty)'}</pre>"
            + f"<div>expected</div><pre>{html.escape(ex.expected)}</pre></div>"
        )
    return "<div class='examples'>" + "".join(cards) + "</div>"


def pick_examples(examples: list[Example], per_kind: int = 6) -> list[Example]:
    """The first PER_KIND right and PER_KIND wrong items in id order (same page every time)."""
    ordered = sorted(examples, key=lambda e: e.id)
    right = [e for e in ordered if e.correct][:per_kind]
    wrong = [e for e in ordered if e.correct is False][:per_kind]
    rest = [e for e in ordered if e.correct is None][:per_kind]
    return right + wrong + rest


def write_page(path: Path, title: str, sections: list[tuple[str, str]]) -> Path:
    """Write an HTML page of (heading, html body) sections."""
    body = "".join(f"<h2>{html.escape(heading)}</h2>{content}" for heading, content in sections)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>")
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path
