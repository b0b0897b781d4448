"""`scitune serve`: the OpenAI client against the real server, concurrency, limits, the web UI in
headless Chromium, and `scitune chat` — all on a tiny random checkpoint."""

import base64
import io
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("SCITUNE_ARTIFACTS", ROOT / "artifacts"))
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tiny_model_config):
    from scitune.model.build import build_llava

    model, processor = build_llava(tiny_model_config, seed=3)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # larger random weights: answers depend on the prompt, so mix-ups would show
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
    folder = tmp_path_factory.mktemp("ckpt") / "tiny-sci"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def _png(size=(48, 32), color=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def _data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def server(checkpoint, tmp_path_factory):
    allowed = tmp_path_factory.mktemp("allowed")
    (allowed / "fig.png").write_bytes(_png())
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "scitune.cli", "serve", "--model", str(checkpoint), "--port", str(port), "--ui",
         "--allow-image-dir", str(allowed), "--set", "max_image_pixels=250000", "--set", "max_body_bytes=200000",
         "--set", "max_tokens=64"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 240
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(base + "/health") as response:
                if json.load(response)["status"] == "ready":
                    break
        except (urllib.error.URLError, ConnectionError):
            pass
        if process.poll() is not None:
            raise AssertionError(process.stdout.read())
        time.sleep(0.3)
    else:
        process.kill()
        raise AssertionError("server did not become ready")
    yield base, allowed
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def client(server):
    from openai import OpenAI

    return OpenAI(base_url=server[0] + "/v1", api_key="unused")


def _ask(client, text, image=None, **kw):
    content = [{"type": "text", "text": text}]
    if image is not None:
        content.insert(0, {"type": "image_url", "image_url": {"url": image}})
    return client.chat.completions.create(model="tiny-sci", messages=[{"role": "user", "content": content}],
                                          max_tokens=kw.pop("max_tokens", 8), **kw)


def test_openai_client_text_image_and_streaming(client):
    assert [m.id for m in client.models.list().data] == ["tiny-sci"]
    text_only = _ask(client, "What is a bar chart?")
    assert text_only.choices[0].message.content and text_only.usage.completion_tokens > 0
    with_image = _ask(client, "Which type of figure is this?", _data_url(_png()))
    assert with_image.choices[0].message.content
    assert with_image.usage.prompt_tokens > text_only.usage.prompt_tokens, "the image tokens count in the prompt"
    again = _ask(client, "Which type of figure is this?", _data_url(_png()))
    assert again.choices[0].message.content == with_image.choices[0].message.content, "greedy by default"
    stream = _ask(client, "Which type of figure is this?", _data_url(_png()), stream=True)
    pieces = [c.choices[0].delta.content or "" for c in stream]
    assert len(pieces) > 2 and "".join(pieces).strip() == with_image.choices[0].message.content


def test_32_concurrent_clients_get_their_own_answers(client):
    words = ("pressure temperature voltage bar chart scatter table equation node diagram mass energy force "
             "frequency population income rainfall velocity current power why how which what").split()
    rng = random.Random(0)
    prompts = [" ".join(rng.choice(words) for _ in range(rng.randint(2, 12))) + "?" for _ in range(32)]
    alone = {p: _ask(client, p).choices[0].message.content for p in prompts[:6]}
    with ThreadPoolExecutor(32) as pool:
        together = dict(zip(prompts, pool.map(lambda p: _ask(client, p).choices[0].message.content, prompts)))
    assert all(together[p] == alone[p] for p in alone), "batched answers equal the answers given alone"
    assert len(set(together.values())) > 3, "answers differ with the prompt"


def _post(base, body, raw=False):
    data = body if raw else json.dumps(body).encode()
    request = urllib.request.Request(base + "/v1/chat/completions", data=data,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def _user(*parts):
    return {"model": "tiny-sci", "max_tokens": 4, "messages": [{"role": "user", "content": list(parts)}]}


def test_limits_answer_4xx_with_reasons_and_the_server_keeps_serving(server, tmp_path):
    base, allowed = server
    text = {"type": "text", "text": "hi"}
    image = lambda url: {"type": "image_url", "image_url": {"url": url}}  # noqa: E731
    (tmp_path / "outside.png").write_bytes(_png())
    cases = [
        (_post(base, b"{not json", raw=True), 400, "not valid JSON"),
        (_post(base, b"x" * 300000, raw=True), 413, "limit of 200000"),
        (_post(base, {**_user(text), "model": "gpt-4"}), 404, "is not served here"),
        (_post(base, {**_user(text), "max_tokens": 100000}), 400, "more than this server allows"),
        (_post(base, _user(image(_data_url(_png())), image(_data_url(_png())), text)), 400, "at most 1 image"),
        (_post(base, _user(image("data:image/png;base64,@@@not-base64@@@"), text)), 400, "not valid base64"),
        (_post(base, _user(image("data:image/png," + "abc"), text)), 400, "must be base64"),
        (_post(base, _user(image(_data_url(b"this is no image")), text)), 400, "readable image"),
        (_post(base, _user(image(_data_url(_png((600, 600)))), text)), 413, "pixels"),
        (_post(base, _user(image("file://" + str(tmp_path / "outside.png")), text)), 403, "outside the allowed"),
        (_post(base, _user(image("http://example.com/a.png"), text)), 400, "not fetched"),
        (_post(base, {"model": "tiny-sci"}), 400, "messages"),
        (_post(base, _user({"type": "text", "text": "sneaky <image> token"})), 400, "may not contain"),
    ]
    for (status, body), expected_status, message in cases:
        assert status == expected_status and message in body["error"]["message"], (status, body, message)
    status, body = _post(base, _user(image("file://" + str(allowed / "fig.png")), text))
    assert status == 200 and body["choices"][0]["message"]["content"]
    with urllib.request.urlopen(base + "/health") as response:
        assert json.load(response)["status"] == "ready"


def test_a_request_while_the_model_loads_is_told_to_retry(checkpoint):
    from fastapi.testclient import TestClient

    from scitune.config import ServeConfig
    from scitune.serve.api import create_app
    from scitune.serve.engine import Engine

    engine = Engine(checkpoint, load=False)  # never loads: the state a client sees during start-up
    api = TestClient(create_app(engine, ServeConfig()))
    response = api.post("/v1/chat/completions", json={"model": "tiny-sci", "messages": [{"role": "user",
                                                                                          "content": "hi"}]})
    assert response.status_code == 503 and "is loading" in response.json()["error"]["message"]
    assert response.headers["retry-after"] == "5"
    assert api.get("/health").json()["status"] == "loading"


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(_chromium() is None, reason="no Chromium (Debian package chromium, installed by .ci/run)")
def test_web_ui_in_headless_chromium(server, tmp_path):
    from playwright.sync_api import sync_playwright

    base, _ = server
    (tmp_path / "figure.png").write_bytes(_png((160, 120), (30, 90, 200)))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(base + "/ui/", wait_until="networkidle")
        assert "tiny-sci" in page.content()
        page.locator("#figure input[type=file]").set_input_files(str(tmp_path / "figure.png"))
        page.locator("#question textarea").fill("Which type of figure is this?")
        page.locator("#ask").click()
        answer = page.locator("#answer textarea")
        deadline, last, stable = time.time() + 60, None, 0
        while time.time() < deadline and stable < 5:  # until the streamed answer stops growing
            time.sleep(0.2)
            current = answer.input_value()
            stable = stable + 1 if current.strip() and current == last else 0
            last = current
        text = answer.input_value()
        page.screenshot(path=str(ARTIFACTS / "webui.png"), full_page=True)
        browser.close()
    assert text.strip() and not text.startswith("⚠")


def test_terminal_chat(checkpoint, tmp_path):
    (tmp_path / "fig.png").write_bytes(_png())
    result = subprocess.run([sys.executable, "-m", "scitune.cli", "chat", "--model", str(checkpoint), "--image",
                             str(tmp_path / "fig.png"), "--max-tokens", "6"], input="What is shown?\nAnd why?\n/quit\n",
                            capture_output=True, text=True, cwd=ROOT, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("model>") == 2 and "ready" in result.stdout
