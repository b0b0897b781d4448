"""Items/s of one-at-a-time generation (what the reference scripts do) against SciTune's batched path.

Same model, same prompts, same greedy settings, one process; the answers of every batch size are
checked to be identical to the one-at-a-time answers before any figure is printed.

    python benchmarks/generate_throughput.py                   # embedded default (SmolLM2-135M + SigLIP)
    python benchmarks/generate_throughput.py --model tiny      # tiny random model
    python benchmarks/generate_throughput.py --model CKPT_DIR  # any Llava checkpoint
    python benchmarks/generate_throughput.py --model llava-1.5-7b   # random weights in a preset's shapes (GPU)

Every model goes through the loader users get (`load_for_inference`: the GPU in bf16 when there is
one, `--device`/`--dtype` as `scitune predict` takes them): a model built here (tiny, embedded, a
preset's shapes with random weights) is first saved as a checkpoint (`--checkpoint-dir`), then loaded.

Workload: ScienceQA-format questions from the demo corpus (QCM-LEPA prompts, image and text-only
mixed), `--new-tokens` tokens each. The model must not stop early for the figures to mean tokens;
`min_new_tokens` is therefore set equal to `max_new_tokens` here (a benchmark-only setting).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from scitune.config import ModelConfig, VisionConfig
from scitune.contracts import Prediction, read_jsonl
from scitune.curate.scienceqa import problem_instructions
from scitune.evaluate.predict import predict
from scitune.model.build import assemble, build_llava, load_for_inference
from scitune.model.embedded import embedded_lm_folder
from scitune.model.presets import shape_configs
from scitune.presets import PRESETS
from scitune.sources.demo import generate_corpus


def _build(name: str, tokenizer_dir: str | None, lm_layers: int | None):
    """A model made here: random weights in a preset's shapes (on the GPU when there is one, bf16),
    the tiny random model, or the embedded default."""
    if name in PRESETS:
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir or embedded_lm_folder())
        text, vision = shape_configs(name, lm_layers=lm_layers, vocab_size=len(tokenizer))
        with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
            lm = AutoModelForCausalLM.from_config(text, dtype=torch.bfloat16)
            return assemble(lm, tokenizer, vision, ModelConfig(preset=name))
    if name == "tiny":
        return build_llava(ModelConfig(language_model="tiny", vision=VisionConfig(image_size=32, patch_size=16,
                                                                                   hidden_size=32)), seed=0)
    return build_llava(ModelConfig(), seed=0)


def _model(args):
    """The checkpoint to measure, loaded as users load it; a model built here is saved first."""
    if Path(args.model).is_dir():
        return load_for_inference(Path(args.model), args.device, args.dtype)
    folder = Path(args.checkpoint_dir or tempfile.mkdtemp()) / args.model
    model, processor = _build(args.model, args.tokenizer, args.lm_layers)
    started = time.perf_counter()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    del model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    saved = time.perf_counter() - started
    started = time.perf_counter()
    loaded = load_for_inference(folder, args.device, args.dtype)
    print(f"saved {folder} in {saved:.1f} s, loaded in {time.perf_counter() - started:.1f} s")
    if not args.checkpoint_dir:
        shutil.rmtree(folder.parent, ignore_errors=True)
    return loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="embedded", help="embedded, tiny, a preset name, or a checkpoint folder")
    parser.add_argument("--items", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--batch-sizes", default="8,16,32")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--device", default="auto", help="as `scitune predict --device`")
    parser.add_argument("--dtype", default="auto", help="as `scitune predict --dtype`")
    parser.add_argument("--lm-layers", type=int, help="shallower LM for a preset's shapes")
    parser.add_argument("--tokenizer", help="tokenizer folder for a preset's shapes (default: the embedded LM's)")
    parser.add_argument("--checkpoint-dir", help="keep the checkpoint of a model built here in this folder")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model, processor = _model(args)
    model.generation_config.min_new_tokens = args.new_tokens
    work = Path(tempfile.mkdtemp())
    _, problems = generate_corpus(work / "corpus", max(2, args.items // 6 + 1), 0.5, model.config.vision_config.image_size,
                                  seed=0)
    items = list(problem_instructions(problems[: args.items], "QCM-LEPA"))
    lengths = sorted(len(processor.tokenizer(i.conversations[0].value)["input_ids"]) for i in items)
    print(f"model {args.model} on {model.placement.describe()}, {torch.get_num_threads()} threads; {len(items)} prompts "
          f"({sum(bool(i.image) for i in items)} with an image) of {lengths[0]}-{lengths[-1]} text tokens, "
          f"{args.new_tokens} new tokens each")
    rows, reference = [], None
    for batch_size in [1, *map(int, args.batch_sizes.split(","))]:
        out = work / f"bs{batch_size}.jsonl"
        started = time.perf_counter()
        predict(model, processor, items, work / "corpus", out, "", args.model, args.new_tokens, batch_size)
        seconds = time.perf_counter() - started
        texts = {p.id: p.text for p in read_jsonl(out, Prediction)}
        reference = reference or texts
        rows.append((batch_size, seconds, texts == reference))
    base = rows[0][1]
    print("\n| batch size | seconds | items/s | new tokens/s | speed-up | answers identical to one-at-a-time |")
    print("|---|---|---|---|---|---|")
    for batch_size, seconds, same in rows:
        label = "1 (one at a time)" if batch_size == 1 else str(batch_size)
        print(f"| {label} | {seconds:.1f} | {len(items) / seconds:.2f} | {len(items) * args.new_tokens / seconds:.0f} "
              f"| {base / seconds:.2f}x | {'yes' if same else 'NO'} |")
    if args.json:
        args.json.write_text(json.dumps({
            "model": args.model, "placement": model.placement.describe(), "items": len(items),
            "new_tokens": args.new_tokens, "rows": [{"batch_size": b, "seconds": t, "items_per_s": len(items) / t,
                                                     "same_answers": same} for b, t, same in rows]}, indent=2))


if __name__ == "__main__":
    main()
