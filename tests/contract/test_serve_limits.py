"""The server's limits in-process (FastAPI's TestClient, a tiny checkpoint): a full server answers 429
with Retry-After before reading the body; the web UI goes through the same limits as the API (image
bytes and pixels, text size, max_tokens, a full server) and cancels the request of a page that
goes away; a request's own system message is its system prompt."""

import io
import time

import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from scitune.config import ServeConfig
from scitune.serve.api import create_app
from scitune.serve.engine import Engine
from scitune.serve.ui import answer_stream, mount_ui


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tiny_model_config):
    from scitune.model.build import build_llava

    model, processor = build_llava(tiny_model_config, seed=3)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
    folder = tmp_path_factory.mktemp("ckpt") / "tiny-sci"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def engine(checkpoint):
    engine = Engine(checkpoint, max_batch=1, max_queue=1, system_prompt="You are SciTune.")
    assert engine.wait_ready(120), engine.error
    return engine


CFG = ServeConfig(max_body_bytes=4096, max_image_bytes=2048, max_image_pixels=10_000, max_tokens=32)


def _chat(text="hi", **extra):
    return {"model": "tiny-sci", "max_tokens": 4, "messages": [{"role": "user", "content": text}], **extra}


def test_a_full_server_says_429_with_retry_after_before_reading_the_body(engine):
    api = TestClient(create_app(engine, CFG))
    held = [engine.reserve(), engine.reserve()]  # every place taken (1 decoding + 1 waiting)
    try:
        response = api.post("/v1/chat/completions", content=b"x" * 10_000)  # would be a 413 if it were read
        assert response.status_code == 429, response.text
        assert "the server is busy" in response.json()["error"]["message"]
        assert int(response.headers["retry-after"]) >= 1
        assert api.get("/health").json()["in_flight"] == 2
    finally:
        for slot in held:
            slot.release()
    assert api.post("/v1/chat/completions", json=_chat()).status_code == 200
    assert api.get("/health").json()["in_flight"] == 0, "a place comes back when its request is answered"


def test_refused_requests_give_their_place_back(engine):
    api = TestClient(create_app(engine, CFG))
    for body in (b"{not json", b"x" * 10_000):
        assert api.post("/v1/chat/completions", content=body).status_code in (400, 413)
    assert api.post("/v1/chat/completions", json=_chat(max_tokens=100)).status_code == 400
    assert api.get("/health").json()["in_flight"] == 0


def test_a_system_message_in_the_request_replaces_the_servers(engine, checkpoint):
    api = TestClient(create_app(engine, CFG))
    own = [{"role": "system", "content": "Answer in French."}, {"role": "user", "content": "What is a graph?"}]
    asked = api.post("/v1/chat/completions", json={**_chat(), "messages": own, "max_tokens": 12}).json()
    french = Engine(checkpoint, system_prompt="Answer in French.")
    assert french.wait_ready(120)
    french_api = TestClient(create_app(french, CFG))
    default = french_api.post("/v1/chat/completions", json=_chat("What is a graph?", max_tokens=12)).json()
    assert asked["choices"][0]["message"]["content"] == default["choices"][0]["message"]["content"]
    assert asked["usage"]["prompt_tokens"] == default["usage"]["prompt_tokens"]
    plain = api.post("/v1/chat/completions", json=_chat("What is a graph?", max_tokens=12)).json()
    assert plain["usage"]["prompt_tokens"] != asked["usage"]["prompt_tokens"], "the server's own system prompt"


def _png(path, size, noise=False):
    image = Image.effect_noise(size, 60).convert("RGB") if noise else Image.new("RGB", size, (200, 30, 30))
    image.save(path, format="PNG")
    return path


def test_the_web_ui_checks_what_the_api_checks(engine, tmp_path):
    def final(*args):
        return list(answer_stream(engine, CFG, *args))[-1]

    assert final(_png(tmp_path / "big.png", (200, 100)), "What is it?", 4).startswith("⚠ image is 200x100 pixels")
    assert final(_png(tmp_path / "heavy.png", (90, 90), noise=True), "What is it?", 4).startswith(
        "⚠ image file is"), "bytes are checked before the file is decoded"
    assert "more than this server allows (32)" in final(None, "What is it?", 1000), "not only the slider's range"
    assert "whole number" in final(None, "What is it?", "many")
    assert "more than the limit of 4096 bytes" in final(None, "why " * 2000, 4)
    assert "may not contain <image>" in final(None, "sneaky <image>", 4)
    held = [engine.reserve(), engine.reserve()]
    try:
        assert "the server is busy" in final(None, "What is it?", 4)
    finally:
        for slot in held:
            slot.release()
    answer = final(_png(tmp_path / "ok.png", (40, 30)), "Which type of figure is this?", 6)
    assert answer and not answer.startswith("⚠")


def test_a_page_that_goes_away_cancels_its_request(engine):
    stream = answer_stream(engine, ServeConfig(max_tokens=1500), None, "Tell a long story", 1500)
    next(stream)  # the first words are on the page
    cancelled = engine.stats["cancelled"]
    stream.close()  # what Gradio does when the page is closed
    deadline = time.time() + 10
    while engine.stats["cancelled"] == cancelled and time.time() < deadline:
        time.sleep(0.02)
    assert engine.stats["cancelled"] == cancelled + 1, "the row left the batch long before its 1500 tokens"
    assert engine.load()["in_flight"] == 0


def test_uploads_larger_than_the_image_limit_are_refused_by_the_ui(engine):
    from fastapi import FastAPI

    app = TestClient(mount_ui(FastAPI(), engine, CFG))
    small = io.BytesIO(b"x" * 1000)
    large = io.BytesIO(b"x" * 5000)
    assert app.post("/ui/gradio_api/upload", files={"files": ("a.png", small, "image/png")}).status_code == 200
    refused = app.post("/ui/gradio_api/upload", files={"files": ("b.png", large, "image/png")})
    assert refused.status_code == 413 and "2048" in refused.text
