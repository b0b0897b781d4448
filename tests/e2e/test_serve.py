"""`scitune serve`: the OpenAI client against the real server, concurrency, limits, clients that hang
up, a soak under mixed good, bad and dropped requests, the web UI in headless Chromium, and
`scitune chat` — all on a tiny random checkpoint."""

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
from urllib.parse import urlparse
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
         "--set", "max_tokens=1500"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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
    yield base, allowed, process
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
    base, allowed, _ = server
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


def _health(base) -> dict:
    with urllib.request.urlopen(base + "/health") as response:
        return json.load(response)


def _until(condition, seconds=20.0) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _send(base, body: bytes) -> socket.socket:
    """A chat completion request on a raw socket, so the test can hang up whenever it likes."""
    host, port = urlparse(base).hostname, urlparse(base).port
    sock = socket.create_connection((host, port), timeout=120)
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                 b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    return sock


def _read_until(sock, needle: bytes, count: int = 1) -> bytes:
    data = b""
    while data.count(needle) < count:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _status(sock) -> int:
    head = _read_until(sock, b"\r\n")
    return int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else -1


def _long(stream: bool) -> bytes:
    return json.dumps({**_user({"type": "text", "text": "Tell a very long story"}), "max_tokens": 1500,
                       "stream": stream}).encode()


def test_a_client_that_hangs_up_has_its_request_cancelled(server):
    base = server[0]
    before = _health(base)["cancelled"]
    streaming = _send(base, _long(stream=True))
    assert _read_until(streaming, b"data: ", 3).startswith(b"HTTP/1.1 200")  # the answer is streaming
    streaming.close()
    assert _until(lambda: _health(base)["cancelled"] == before + 1), "the streaming request was not cancelled"
    waiting = _send(base, _long(stream=False))
    assert _until(lambda: _health(base)["decoding"] == 1)
    waiting.close()  # before any answer
    assert _until(lambda: _health(base)["cancelled"] == before + 2), "the waiting request was not cancelled"
    health = _health(base)
    assert health["decoding"] == 0 and health["in_flight"] == 0, "both rows left the batch long before 1500 tokens"


def _rss_kib(process) -> int:
    status = Path(f"/proc/{process.pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads the server's memory from /proc")
def test_soak_mixed_good_bad_and_dropped_requests(server):
    """200 requests from 16 concurrent clients, a quarter of them bad or dropped mid-stream: no 5xx, every
    good request answered exactly as alone, nothing left in flight, memory back to its baseline."""
    base, _, process = server
    rng = random.Random(7)
    words = "figure chart axis pressure table curve legend energy sample plot why how which".split()
    good = []
    for n in range(20):
        parts = [{"type": "text", "text": " ".join(rng.choice(words) for _ in range(rng.randint(2, 14)))}]
        if n % 3 == 0:
            size, colour = (rng.randint(20, 90), rng.randint(20, 90)), (rng.randrange(256), 90, rng.randrange(256))
            parts.insert(0, {"type": "image_url", "image_url": {"url": _data_url(_png(size, colour))}})
        good.append({**_user(*parts), "max_tokens": rng.choice([4, 8, 16, 24])})

    def ask(body: dict, stream: bool = False) -> tuple[int, str]:
        sock = _send(base, json.dumps({**body, "stream": stream}).encode())
        with sock:
            data = _read_until(sock, b"\x00")  # everything, until the server closes
        status = int(data.split(b" ", 2)[1])
        payload = data.split(b"\r\n\r\n", 1)[1]
        if status != 200:
            return status, ""
        if not stream:
            return status, json.loads(payload)["choices"][0]["message"]["content"]
        events = [line[6:] for line in payload.decode().splitlines() if line.startswith("data: {")]
        return status, "".join(json.loads(e)["choices"][0]["delta"].get("content") or "" for e in events).strip()

    def drop(stream: bool) -> int:
        sock = _send(base, _long(stream))
        with sock:
            if stream:
                _read_until(sock, b"data: ", 2)
            else:
                time.sleep(rng.uniform(0.0, 0.3))
        return 0

    bad = [
        lambda: ask({**good[0], "model": "gpt-4"})[0],
        lambda: ask({**good[1], "max_tokens": 100000})[0],
        lambda: ask(_user({"type": "image_url", "image_url": {"url": _data_url(_png((600, 600)))}},
                          {"type": "text", "text": "hi"}))[0],
        lambda: (lambda sock: (_status(sock), sock.close())[0])(_send(base, b"{torn")),
        lambda: drop(stream=True),
        lambda: drop(stream=False),
    ]
    alone = [ask(body)[1] for body in good]  # one at a time, the server idle
    for task in bad:  # warm every path before the baseline
        task()
    assert _until(lambda: _health(base)["in_flight"] == 0)
    baseline = _rss_kib(process)
    stats = _health(base)
    tasks = [("good", n % 20, n % 3 == 0) for n in range(150)] + [("bad", n % len(bad), False) for n in range(50)]
    rng.shuffle(tasks)

    def run(task):
        kind, index, stream = task
        if kind == "good":
            return kind, index, *ask(good[index], stream)
        return kind, index, bad[index](), ""

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(run, tasks))
    statuses = [status for _, _, status, _ in results]
    assert not [s for s in statuses if s >= 500], "no 5xx"
    assert sorted({s for kind, i, s, _ in results if kind == "bad" and i < 4}) == [400, 404, 413]
    wrong = [(i, text, alone[i]) for kind, i, status, text in results if kind == "good" and text != alone[i]]
    assert not wrong and all(s == 200 for kind, _, s, _ in results if kind == "good"), wrong[:3]
    assert len(set(alone)) > 5, "answers differ with the prompt"
    assert _until(lambda: _health(base)["in_flight"] == 0)
    after = _health(base)
    assert after["failed"] == stats["failed"] and after["decoding"] == 0 and after["queued"] == 0
    dropped = sum(kind == "bad" and index >= 4 for kind, index, _ in tasks)
    assert after["cancelled"] - stats["cancelled"] == dropped, "every dropped request was cancelled"
    grown = _rss_kib(process) - baseline
    print(f"soak: server RSS {baseline // 1024} MiB before, {grown / 1024:+.1f} MiB after")
    assert grown < 16 * 1024, f"the server kept {grown // 1024} MiB more than its baseline"


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(_chromium() is None, reason="no Chromium (Debian package chromium, installed by .ci/run)")
def test_web_ui_in_headless_chromium(server, tmp_path):
    from playwright.sync_api import sync_playwright

    base, _, _ = server
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
