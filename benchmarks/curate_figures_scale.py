"""Curation throughput and memory at corpus scale: a SciCap-challenge file of N records, curated
without OCR and without opening images (no images exist; `image_check=none`), pinned to one core.

    python benchmarks/curate_figures_scale.py                 # 100k and 1M records
    python benchmarks/curate_figures_scale.py --sizes 20000   # a quick look

Each size runs in a fresh child process; the table shows records/s of the whole `curate figures`
path (stream-parse, join by id, checks, dedupe, instructions, token counts, JSONL out) and the
child's peak RSS. Memory must not grow with N: the join and the dedupe state live on disk.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import os, sys, time, json, resource
os.sched_setaffinity(0, {0})
from pathlib import Path
from transformers import AutoTokenizer
from scitune.config import FigureCurationConfig
from scitune.curate.corpus import FigureCuration
from scitune.model.build import resolve_lm_name
from scitune.sources.figures import read_figures
path, out = Path(sys.argv[1]), Path(sys.argv[2])
tokenizer = AutoTokenizer.from_pretrained(resolve_lm_name("embedded:smollm2-135m-instruct"))
cfg = FigureCurationConfig(ocr="none", image_check="none")
started = time.perf_counter()
result = FigureCuration(cfg, out, path.parent, tokenizer).run(read_figures("scicap-challenge", path))
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "in": result["records_in"], "kept": result["records_kept"],
                  "rejected": result["records_rejected"], "adds_up": result["adds_up"],
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000")
    args = parser.parse_args()
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "RAYON_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    rows = []
    for n in map(int, args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "train.json"
            started = time.perf_counter()
            write_corpus(path, n)
            print(f"{n} records: wrote {path.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - started:.0f} s",
                  flush=True)
            done = subprocess.run([sys.executable, "-c", CHILD, str(path), str(Path(tmp) / "out")], env=env,
                                  capture_output=True, text=True, check=True)
            rows.append((n, json.loads(done.stdout.strip().splitlines()[-1])))
    print("\n| records in | kept | rejected | adds up | seconds | records/s (one core) | peak RSS (MB) |")
    print("|---|---|---|---|---|---|---|")
    for n, r in rows:
        print(f"| {r['in']:,} | {r['kept']:,} | {r['rejected']:,} | {r['adds_up']} | {r['seconds']:.1f} | "
              f"{r['in'] / r['seconds']:,.0f} | {r['rss_mb']:.0f} |")


if __name__ == "__main__":
    main()
