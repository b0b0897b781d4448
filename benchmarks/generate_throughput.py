"""Items/s of one-at-a-time generation (what the reference scripts do) against SciTune's batched path.

Same model, same prompts, same greedy settings, one process; the answers of every batch size are
checked to be identical to the one-at-a-time answers before any figure is printed.

    python benchmarks/generate_throughput.py                   # embedded default (SmolLM2-135M + SigLIP)
    python benchmarks/generate_throughput.py --model tiny      # tiny random model
    python benchmarks/generate_throughput.py --model CKPT_DIR  # any Llava checkpoint

Workload: ScienceQA-format questions from the demo corpus (QCM-LEPA prompts, image and text-only
mixed), `--new-tokens` tokens each. The model must not stop early for the figures to mean tokens;
`min_new_tokens` is therefore set equal to `max_new_tokens` here (a benchmark-only setting).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from scitune.config import ModelConfig, VisionConfig
from scitune.contracts import Prediction, read_jsonl
from scitune.curate.scienceqa import problem_instructions
from scitune.evaluate.predict import predict
from scitune.model.build import assemble, build_llava, load_llava
from scitune.model.embedded import embedded_lm_folder
from scitune.model.presets import shape_configs
from scitune.presets import PRESETS
from scitune.sources.demo import generate_corpus


def _model(name: str):
    if Path(name).is_dir():
        return load_llava(Path(name))
    if name in PRESETS:  # random weights in the preset's shapes (e.g. llava-1.5-7b on a GPU), bf16
        tokenizer = AutoTokenizer.from_pretrained(embedded_lm_folder())
        text, vision = shape_configs(name, vocab_size=len(tokenizer))
        lm = AutoModelForCausalLM.from_config(text, dtype=torch.bfloat16)
        model, processor = assemble(lm, tokenizer, vision, ModelConfig(preset=name))
        return model.to("cuda" if torch.cuda.is_available() else "cpu"), processor
    if name == "tiny":
        return build_llava(ModelConfig(language_model="tiny", vision=VisionConfig(image_size=32, patch_size=16,
                                                                                   hidden_size=32)), seed=0)
    return build_llava(ModelConfig(), seed=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="embedded", help="embedded, tiny, a preset name, or a checkpoint folder")
    parser.add_argument("--items", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--batch-sizes", default="8,16,32")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model, processor = _model(args.model)
    model.generation_config.min_new_tokens = args.new_tokens
    work = Path(tempfile.mkdtemp())
    _, problems = generate_corpus(work / "corpus", max(2, args.items // 6 + 1), 0.5, model.config.vision_config.image_size,
                                  seed=0)
    items = list(problem_instructions(problems[: args.items], "QCM-LEPA"))
    lengths = sorted(len(processor.tokenizer(i.conversations[0].value)["input_ids"]) for i in items)
    print(f"model {args.model} on {model.device}, {torch.get_num_threads()} threads; {len(items)} prompts "
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


if __name__ == "__main__":
    main()
