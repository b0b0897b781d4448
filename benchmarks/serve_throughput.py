"""Continuous against static batching in `scitune serve`: 32 clients, mixed max_tokens 8…256.

    python benchmarks/serve_throughput.py                      # embedded default (SmolLM2-135M + SigLIP)
    python benchmarks/serve_throughput.py --model CKPT         # any checkpoint
    python benchmarks/serve_throughput.py --src /tmp/old-tree  # the server of another source tree
                                                               # (e.g. a git worktree of an older commit)

Each client sends `--rounds` requests back to back through the OpenAI client (a figure as a data
URL + a question, greedy). Their `max_tokens` are drawn (seeded) from 8, 16, 32, 64, 128, 256, half
of them short (≤ 16), and the checkpoint's `min_new_tokens` is set to 256 so every answer runs to
its own max_tokens (an untrained model would otherwise stop at random points). The same requests
go to a server with static batching (a batch runs to its longest row) and one with continuous
batching (rows leave and join between steps). The table gives the median latency of the short
requests and of all, the 95th percentile, answers/s and new tokens/s, and whether every answer is
the one the same server gives that request alone (asked one at a time, idle, before the load).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import random
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

BUDGETS = (8, 8, 8, 16, 16, 16, 32, 64, 128, 256)
"""max_tokens are drawn from these: half short (≤ 16), the rest up to 256."""
SHORT = 16


def _checkpoint(name: str) -> Path:
    """A folder of our own: the embedded default built fresh, or a copy of NAME's files (weights linked),
    since its generation_config is changed below."""
    if Path(name).is_dir():
        folder = Path(tempfile.mkdtemp()) / Path(name).name
        folder.mkdir()
        for path in Path(name).iterdir():
            if path.is_file() and path.name != "generation_config.json":
                (folder / path.name).symlink_to(path.resolve())
        config = Path(name) / "generation_config.json"
        (folder / config.name).write_text(config.read_text() if config.is_file() else "{}")
        return folder
    from scitune.config import ModelConfig
    from scitune.model.build import build_llava

    folder = Path(tempfile.mkdtemp()) / "smollm2-siglip-base"
    model, processor = build_llava(ModelConfig(), seed=0)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start(folder: Path, batching: str | None, src: Path | None, clients: int, dtype: str | None):
    port = _free_port()
    command = [sys.executable, "-m", "scitune.cli", "serve", "--model", str(folder), "--port", str(port),
               "--set", f"max_batch={clients}", "--set", "max_tokens=256"]
    if batching:
        command += ["--set", f"batching={batching}"]
    if dtype:
        command += ["--dtype", dtype]
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = str(src / "src")
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    while True:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}: {' '.join(command)}")
        try:
            with urllib.request.urlopen(base + "/health") as response:
                if json.load(response)["status"] == "ready":
                    return server, base
        except OSError:
            time.sleep(0.5)


def _run(label: str, folder: Path, plan: list[tuple[int, int]], args, image: str) -> dict:
    from openai import OpenAI

    server, base = _start(folder, None if args.src else label, args.src, args.clients, args.dtype)
    try:
        client = OpenAI(base_url=base + "/v1", api_key="unused", timeout=3600)

        def ask(item: tuple[int, int]) -> tuple[float, str]:
            number, budget = item
            started = time.perf_counter()
            reply = client.chat.completions.create(model=folder.name, max_tokens=budget, messages=[{
                "role": "user", "content": [{"type": "image_url", "image_url": {"url": image}},
                                            {"type": "text", "text": f"Question {number}: which type of figure is "
                                                                     "this, and what does it show?"}]}])
            return time.perf_counter() - started, reply.choices[0].message.content

        ask((-1, 4))  # warm-up
        print(f"[{label}] asking {min(args.check, len(plan))} requests alone…", file=sys.stderr, flush=True)
        alone = {item: ask(item)[1] for item in plan[: args.check]}
        print(f"[{label}] {len(plan)} requests from {args.clients} clients…", file=sys.stderr, flush=True)
        per_client = [plan[c::args.clients] for c in range(args.clients)]
        started = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            results = list(pool.map(lambda items: [(item, *ask(item)) for item in items], per_client))
        wall = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait()
    done = [result for client_results in results for result in client_results]
    latencies = [latency for _, latency, _ in done]
    short = [latency for (_, budget), latency, _ in done if budget <= SHORT]
    same = sum(text == alone[item] for item, _, text in done if item in alone)
    return {"label": label, "short": statistics.median(short), "median": statistics.median(latencies),
            "p95": sorted(latencies)[max(0, round(0.95 * len(latencies)) - 1)], "answers": len(done) / wall,
            "tokens": sum(budget for (_, budget), _, _ in done) / wall, "same": f"{same}/{len(alone)}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2, help="requests each client sends back to back")
    parser.add_argument("--modes", default="static,continuous", help="batching modes to compare")
    parser.add_argument("--src", type=Path, help="run the server of this source tree instead (one run)")
    parser.add_argument("--check", type=int, default=64, help="requests also asked alone, to compare answers")
    parser.add_argument("--dtype", help="passed to `scitune serve --dtype` (servers that have the option)")
    args = parser.parse_args()
    folder = _checkpoint(args.model)
    # Every answer exactly its max_tokens long: the untrained model would otherwise stop at random points.
    config = json.loads((folder / "generation_config.json").read_text())
    config["min_new_tokens"] = max(BUDGETS)
    (folder / "generation_config.json").write_text(json.dumps(config))
    rng = random.Random(0)
    plan = [(n, rng.choice(BUDGETS)) for n in range(args.clients * args.rounds)]
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (40, 120, 200)).save(buffer, format="PNG")
    image = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    modes = [f"src:{args.src}"] if args.src else args.modes.split(",")
    rows = [_run(mode, folder, plan, args, image) for mode in modes]
    shorts = sum(budget <= SHORT for _, budget in plan)
    print(f"model {folder.name}; {args.clients} clients × {args.rounds} requests; max_tokens "
          f"{min(BUDGETS)}…{max(BUDGETS)} ({shorts} of {len(plan)} short, ≤ {SHORT}); "
          f"{sum(b for _, b in plan)} new tokens in all\n")
    print("| batching | short: median latency (s) | all: median (s) | all: p95 (s) | answers/s | new tokens/s "
          "| answers as alone |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['label']} | {row['short']:.2f} | {row['median']:.2f} | {row['p95']:.2f} | "
              f"{row['answers']:.2f} | {row['tokens']:.0f} | {row['same']} |")
    if len(rows) == 2:
        before, after = rows
        print(f"\n{after['label']} / {before['label']}: short-request median latency ×"
              f"{after['short'] / before['short']:.2f}, answers/s ×{after['answers'] / before['answers']:.2f}")


if __name__ == "__main__":
    main()
