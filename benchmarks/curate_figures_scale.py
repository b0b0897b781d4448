"""Curation throughput and memory at corpus scale.

In-process engine: a SciCap-challenge file of N records, curated without OCR and without opening
images (no images exist; `image_check=none`), pinned to one core, with the garbage collector set
as the CLI sets it (`settle_collector`). Each size runs in a fresh child process; the table shows
records per second of wall time and per CPU-second of the child (user + system: what one core
does, and much less disturbed than wall time when other work shares the machine), and the child's
peak RSS. Memory must not grow with N:
the join and the dedupe state live on disk.

    python benchmarks/curate_figures_scale.py                      # 100k and 1M records
    python benchmarks/curate_figures_scale.py --sizes 20000 --repeat 3 --baseline-src OLD/src
                                                                   # before/after, alternating runs
    python benchmarks/curate_figures_scale.py --ray                # the Ray engine (pip install 'scitune[ray]')

`--ray`: (1) OCR scaling: real SciCap figures (the shared test data; each copy one pixel apart,
so that no dedupe and no OCR cache hides work) curated with OCR by the in-process engine and by Ray
with 1 and 2 workers, fresh OCR caches; (2) the driver's peak RSS at 20k and 100k records (no OCR):
flat when the driver holds no records.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import gc, os, sys, time, json, resource
os.sched_setaffinity(0, {0})
from pathlib import Path
from transformers import AutoTokenizer
from scitune.config import FigureCurationConfig
from scitune.curate.corpus import FigureCuration
from scitune.model.build import resolve_lm_name
from scitune.sources.figures import read_figures
import matplotlib.figure  # the quality plot's import, not curation work
path, out = Path(sys.argv[1]), Path(sys.argv[2])
tokenizer = AutoTokenizer.from_pretrained(resolve_lm_name("embedded:smollm2-135m-instruct"))
cfg = FigureCurationConfig(ocr="none", image_check="none")
try:  # the collector as `scitune curate figures` sets it
    from scitune.curate.corpus import settle_collector
except ImportError:  # a baseline from before settle_collector: the CLI then only froze it
    settle_collector = gc.freeze
settle_collector()
started, cpu = time.perf_counter(), time.process_time()
result = FigureCuration(cfg, out, path.parent, tokenizer).run(read_figures("scicap-challenge", path))
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
print(json.dumps({"seconds": seconds, "cpu": cpu, "in": result["records_in"], "kept": result["records_kept"],
                  "rejected": result["records_rejected"], "adds_up": result["adds_up"],
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

RAY_CHILD = r"""
import functools, sys, time, json, resource
from pathlib import Path
from transformers import AutoTokenizer
from scitune.config import FigureCurationConfig
from scitune.curate.corpus import FigureCuration
from scitune.model.build import resolve_lm_name
from scitune.sources.figures import read_figures
path, fmt, out, engine, workers, ocr = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), sys.argv[4], int(sys.argv[5]), sys.argv[6]
tokenizer = AutoTokenizer.from_pretrained(resolve_lm_name("embedded:smollm2-135m-instruct"))
cfg = FigureCurationConfig(ocr=ocr, image_check="none" if ocr == "none" else "decode")
root = Path(sys.argv[7]) if len(sys.argv) > 7 else path.parent
if engine == "ray":
    import ray
    from scitune.curate.ray_engine import curate_on_ray
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)  # started before the clock
    started = time.perf_counter()
    result = curate_on_ray(cfg, out, root, tokenizer, 0, functools.partial(read_figures, fmt, path),
                           workers=workers, ocr_cache=out / "ocr_cache")
else:
    started = time.perf_counter()
    result = FigureCuration(cfg, out, root, tokenizer, ocr_cache=out / "ocr_cache").run(read_figures(fmt, path))
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "in": result["records_in"], "kept": result["records_kept"],
                  "ocr": result["ocr"], "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

WORDS = ("loss accuracy epoch model training validation error rate layer network parameter sample figure "
         "result method baseline dataset performance learning curve").split()


def write_corpus(path: Path, n: int, seed: int = 0) -> None:
    """Images then annotations (shuffled, so the join is by id); 1% of images without annotation and
    0.5% of figures repeating a caption of their own paper (both rejected, and counted)."""
    rng = random.Random(seed)
    types = ["Graph Plot", "Table", "Bar Chart", "Scatterplot", "Equation", "Node Diagram"]
    with open(path, "w", encoding="utf-8") as handle:
        handle.write('{"images": [')
        for i in range(n):
            paper = f"{1000 + i // 5000}.{i // 5 % 1000:05d}v1"
            record = {"id": i, "file_name": f"{paper}-Figure{i % 5 + 1}-1.png", "figure_type": rng.choice(types),
                      "ocr": rng.sample(WORDS, 4)}
            handle.write(("," if i else "") + json.dumps(record))
        handle.write('], "annotations": [')
        order = list(range(n))
        rng.shuffle(order)
        for k, i in enumerate(order):
            if i % 100 == 99:
                continue  # an image without annotation
            caption = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 25))).capitalize() + "."
            if i % 200 in (1, 2):
                caption = "Same caption."  # two figures of one paper share it: dedupe rejects the second
            annotation = {"image_id": i, "caption_no_index": caption,
                          "mention": [[f"As Fig. {i % 5 + 1} shows, the {rng.choice(WORDS)} improves."]],
                          "paragraph": []}
            handle.write(("," if k else "") + json.dumps(annotation))
        handle.write("]}")


def write_ocr_corpus(folder: Path, copies: int) -> Path:
    """COPIES variants of each real SciCap figure of the shared test data (one pixel changed: other
    bytes, the same reading work) as FigureRecord JSONL without OCR, one paper per figure."""
    from PIL import Image

    data = Path(os.environ.get("SCITUNE_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    figures = sorted((data / "scicap_figures").glob("*.png"))
    if not figures:
        raise SystemExit(f"no SciCap figures under {data}/scicap_figures (set SCITUNE_TEST_DATA)")
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "records.jsonl").open("w", encoding="utf-8") as handle:
        for copy in range(copies):
            for number, figure in enumerate(figures):
                name = f"{figure.stem}-{copy}.png"
                with Image.open(figure) as image:
                    image = image.convert("RGB")
                    image.putpixel((0, 0), (copy % 256, copy // 256 % 256, 7))
                    image.save(folder / name)
                handle.write(json.dumps({
                    "id": f"{figure.stem}-{copy}", "image": name, "figure_type": "graph plot",
                    "caption": f"Result {copy} of figure {number}.", "ocr": [], "mentions": [], "paragraphs": [],
                    "source": {"dataset": "scicap", "paper_id": f"{figure.stem}-{copy}", "figure_id": figure.stem,
                               "license": "CC BY-NC-SA 4.0"}}) + "\n")
    return folder / "records.jsonl"


def _child(script: str, *args, env: dict, pythonpath: str | None = None) -> dict:
    env = {**env, "PYTHONPATH": pythonpath} if pythonpath else env
    done = subprocess.run([sys.executable, "-c", script, *map(str, args)], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stdout[-2000:] + done.stderr[-4000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def in_process(sizes: list[int], repeat: int, baseline: str | None, env: dict) -> None:
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "train.json"
            started = time.perf_counter()
            write_corpus(path, n)
            print(f"{n} records: wrote {path.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - started:.0f} s",
                  flush=True)
            for run in range(repeat):  # alternating, so that both see the same background load
                for label, src in (("this checkout", None), ("baseline", baseline)):
                    if label == "baseline" and not baseline:
                        continue
                    r = _child(CHILD, path, Path(tmp) / f"out{run}{label[0]}", env=env, pythonpath=src)
                    rows.append((n, label, r))
                    print(f"  {label}: {r['in'] / r['cpu']:,.0f} records per CPU-second, "
                          f"{r['in'] / r['seconds']:,.0f} records/s", flush=True)
    print("\n| records in | code | kept | rejected | adds up | seconds | records/s (wall) | records per CPU-second "
          "| peak RSS (MB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n, label, r in rows:
        print(f"| {r['in']:,} | {label} | {r['kept']:,} | {r['rejected']:,} | {r['adds_up']} | {r['seconds']:.1f} | "
              f"{r['in'] / r['seconds']:,.0f} | {r['in'] / r['cpu']:,.0f} | {r['rss_mb']:.0f} |")
    if baseline:
        for n in sizes:
            # In run order: each ratio is of two runs that followed each other, under one load.
            per = {label: [r["in"] / r["cpu"] for m, lab, r in rows if m == n and lab == label]
                   for label in ("this checkout", "baseline")}
            ratios = [a / b for a, b in zip(per["this checkout"], per["baseline"])]
            print(f"{n:,} records: per CPU-second, this checkout / baseline = "
                  f"{', '.join(f'{x:.2f}' for x in ratios)} (pairs of runs; median {statistics.median(ratios):.2f}); "
                  f"medians {statistics.median(per['this checkout']):,.0f} vs {statistics.median(per['baseline']):,.0f}")


def on_ray(copies: int, memory_sizes: list[int], env: dict) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        corpus = write_ocr_corpus(tmp / "figures", copies)
        runs = [("in-process", "local", 1), ("ray, 1 worker", "ray", 1), ("ray, 2 workers", "ray", 2)]
        results = []
        for label, engine, workers in runs:
            r = _child(RAY_CHILD, corpus, "records", tmp / f"ocr-{engine}-{workers}", engine, workers, "figure",
                       corpus.parent, env=env)
            results.append((label, r))
            print(f"  {label}: {r['in'] / r['seconds']:.2f} records/s (OCR {r['ocr']})", flush=True)
        base = dict(results)["ray, 1 worker"]
        print("\n| OCR on real figures | records | seconds | records/s | vs Ray 1 worker |")
        print("|---|---|---|---|---|")
        for label, r in results:
            print(f"| {label} | {r['in']} | {r['seconds']:.1f} | {r['in'] / r['seconds']:.2f} | "
                  f"{(r['in'] / r['seconds']) / (base['in'] / base['seconds']):.2f}x |")
        rows = []
        for n in memory_sizes:
            path = tmp / f"c{n}" / "train.json"
            path.parent.mkdir()
            write_corpus(path, n)
            r = _child(RAY_CHILD, path, "scicap-challenge", tmp / f"mem{n}", "ray", 2, "none", env=env)
            rows.append((n, r))
            print(f"  {n} records on Ray: driver peak RSS {r['rss_mb']:.0f} MB", flush=True)
        print("\n| records (Ray, 2 workers, no OCR) | seconds | records/s | driver peak RSS (MB) |")
        print("|---|---|---|---|")
        for n, r in rows:
            print(f"| {r['in']:,} | {r['seconds']:.1f} | {r['in'] / r['seconds']:,.0f} | {r['rss_mb']:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--repeat", type=int, default=1, help="Runs per size (to see the noise).")
    parser.add_argument("--baseline-src", help="The src/ folder of another checkout, run alternately for a ratio.")
    parser.add_argument("--ray", action="store_true", help="Measure the Ray engine instead.")
    parser.add_argument("--copies", type=int, default=10, help="--ray: copies of each real figure for OCR.")
    parser.add_argument("--memory-sizes", default="20000,100000", help="--ray: corpus sizes for the driver's memory.")
    args = parser.parse_args()
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "RAYON_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    if args.ray:
        on_ray(args.copies, [int(n) for n in args.memory_sizes.split(",")], env)
    else:
        in_process([int(n) for n in args.sizes.split(",")], args.repeat, args.baseline_src, env)


if __name__ == "__main__":
    main()
