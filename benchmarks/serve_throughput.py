"""Latency and throughput of `scitune serve` at 1, 8 and 32 concurrent clients (OpenAI client, real server).

    python benchmarks/serve_throughput.py                 # embedded default (SmolLM2-135M + SigLIP)
    python benchmarks/serve_throughput.py --model CKPT    # any checkpoint

Each client sends requests back to back (a figure as a data URL + a question, greedy, `--tokens`
new tokens, `min_tokens` forced so every answer has the same length); the table gives the latency
of one answer (median and 95th percentile) and the server's total answers/s and tokens/s.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image


def _checkpoint(name: str) -> Path:
    if Path(name).is_dir():
        return Path(name)
    from scitune.config import ModelConfig
    from scitune.model.build import build_llava

    folder = Path(tempfile.mkdtemp()) / "smollm2-siglip-base"
    model, processor = build_llava(ModelConfig(), seed=0)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--requests", type=int, default=32, help="requests per concurrency level")
    args = parser.parse_args()
    folder = _checkpoint(args.model)
    # Every answer exactly --tokens long: the untrained model would otherwise stop at random points.
    config = json.loads((folder / "generation_config.json").read_text())
    config["min_new_tokens"] = args.tokens
    (folder / "generation_config.json").write_text(json.dumps(config))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "scitune.cli", "serve", "--model", str(folder), "--port",
                               str(port), "--set", "max_batch=32"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                with urllib.request.urlopen(base + "/health") as response:
                    if json.load(response)["status"] == "ready":
                        break
            except OSError:
                time.sleep(0.5)
        from openai import OpenAI

        client = OpenAI(base_url=base + "/v1", api_key="unused")
        buffer = io.BytesIO()
        Image.new("RGB", (320, 240), (40, 120, 200)).save(buffer, format="PNG")
        image = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()

        def ask(n: int) -> float:
            started = time.perf_counter()
            client.chat.completions.create(model=folder.name, max_tokens=args.tokens, messages=[{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": image}},
                {"type": "text", "text": f"Question {n}: which type of figure is this, and what does it show?"}]}])
            return time.perf_counter() - started

        ask(-1)  # warm-up
        print(f"model {folder.name}; {args.tokens} new tokens per answer; {args.requests} requests per level\n")
        print("| clients | latency median (s) | latency p95 (s) | answers/s | new tokens/s |")
        print("|---|---|---|---|---|")
        for clients in map(int, args.clients.split(",")):
            started = time.perf_counter()
            with ThreadPoolExecutor(clients) as pool:
                latencies = list(pool.map(ask, range(args.requests)))
            wall = time.perf_counter() - started
            p95 = sorted(latencies)[max(0, round(0.95 * len(latencies)) - 1)]
            print(f"| {clients} | {statistics.median(latencies):.2f} | {p95:.2f} | {args.requests / wall:.2f} | "
                  f"{args.requests * args.tokens / wall:.0f} |")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
