"""Training throughput: SciTune's path (packing, bf16 where the hardware has it) against plain
`transformers` Llava trained the naive way (random batches padded to the longest, no packing), same
model, same samples, same process.

    python benchmarks/train_throughput.py --preset embedded --baseline          # CPU, the embedded default
    python benchmarks/train_throughput.py --preset llava-1.5-7b --lm-layers 32 --baseline   # GPU

Random weights in the preset's shapes (`--lm-layers`/`--vision-layers` shorten them). Workload: a
ScienceQA-like mix: half of the samples carry an image (the preset's image tokens), text lengths
uniform in 60-600 tokens, the answer (supervised) the last 40% of the text. Real tokens are the
non-padding ones; MFU counts 6 FLOPs per parameter per real token (forward + backward) against the
device's peak (`--peak-tflops`, for GPUs).
"""

from __future__ import annotations

import argparse
import random
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from scitune.config import ModelConfig, VisionConfig
from scitune.model.build import assemble, vision_config_from
from scitune.model.embedded import embedded_lm_folder
from scitune.model.presets import shape_configs
from scitune.presets import PRESETS
from scitune.model.encode import IGNORE_INDEX
from scitune.train.data import Collator, PackedCollator, PackedDataset
from scitune.train.loss import supervised_loss
from scitune.train.stage import use_bf16


def build(preset: str, lm_layers: int | None, vision_layers: int | None):
    tokenizer = AutoTokenizer.from_pretrained(embedded_lm_folder())
    if preset == "embedded":
        cfg = ModelConfig()
        lm = AutoModelForCausalLM.from_pretrained(embedded_lm_folder(), dtype=torch.float32)
        vision = vision_config_from(cfg.vision)
    elif preset == "tiny":
        cfg = ModelConfig(language_model="tiny", vision=VisionConfig(image_size=32, patch_size=16, hidden_size=32))
        text, _ = shape_configs("small-modern", lm_layers=2, vocab_size=len(tokenizer))
        text.hidden_size, text.intermediate_size, text.num_attention_heads, text.num_key_value_heads = 64, 128, 4, 2
        lm, vision = AutoModelForCausalLM.from_config(text), vision_config_from(cfg.vision)
    else:
        cfg = ModelConfig(preset=preset)
        text, vision = shape_configs(preset, lm_layers, vision_layers, vocab_size=len(tokenizer))
        # bf16 weights on a GPU (a 7B model's fp32 weights, gradients and Adam states would not fit one card).
        lm = AutoModelForCausalLM.from_config(text, dtype=torch.bfloat16 if torch.cuda.is_available() else torch.float32)
    return assemble(lm, tokenizer, vision, cfg, seed=0)


def workload(count: int, image_tokens: int, image_id: int, vocab: int, image_side: int, seed: int = 0):
    rng = random.Random(seed)
    samples = []
    for n in range(count):
        text = rng.randint(60, 600)
        ids = [rng.randrange(100, vocab - 100) for _ in range(text)]
        answer = int(text * 0.4)
        labels = [IGNORE_INDEX] * (text - answer) + ids[text - answer:]
        sample = {"input_ids": ids, "labels": labels}
        if n % 2 == 0:
            sample["input_ids"] = [image_id] * image_tokens + ids
            sample["labels"] = [IGNORE_INDEX] * image_tokens + labels
            sample["pixel_values"] = torch.randn(3, image_side, image_side)
        samples.append(sample)
    return samples


class _Listed(torch.utils.data.Dataset):
    def __init__(self, samples):
        self.samples = samples

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        return self.samples[i]

    def lengths(self):
        return [len(s["input_ids"]) for s in self.samples]


def run(model, batches, device, bf16: bool, steps: int, supervised: bool = False) -> tuple[float, int, int]:
    """Seconds, real tokens and samples of STEPS training steps (after one warm-up step)."""
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    real = samples = 0
    started = None
    for step, (batch, count) in enumerate(batches[: steps + 1]):
        if step == 1:
            if device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            real = samples = 0
        batch = {k: v.to(device) for k, v in batch.items()}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            if supervised:  # SciTune's loss: logits only at the supervised positions
                labels = batch.pop("labels")
                loss = supervised_loss(model(**batch), labels)
            else:
                loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        real += count[0]
        samples += count[1]
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started, real, samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="embedded", help="embedded, tiny, or " + ", ".join(PRESETS))
    parser.add_argument("--lm-layers", type=int)
    parser.add_argument("--vision-layers", type=int)
    parser.add_argument("--samples", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=8, help="samples per naive batch")
    parser.add_argument("--pack-length", type=int, default=1024, help="tokens per packed row")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--baseline", action="store_true", help="also run the naive plain-transformers path")
    parser.add_argument("--gradient-checkpointing", action="store_true", help="recompute activations (both paths)")
    parser.add_argument("--peak-tflops", type=float, default=0.0, help="device peak for MFU (e.g. 989 for H100 bf16)")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model, processor = build(args.preset, args.lm_layers, args.vision_layers)
    model.to(device)
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    params = sum(p.numel() for p in model.parameters())
    side = model.config.vision_config.image_size
    samples = workload(args.samples, model.config.image_seq_length, model.config.image_token_id,
                       len(processor.tokenizer), side)
    pad = processor.tokenizer.pad_token_id
    bf16 = use_bf16("auto")
    rows = []

    def report(name, seconds, real, count, computed):
        rows.append((name, real / seconds, count / seconds, 1 - real / computed, seconds))

    # Ours: samples packed into rows of --pack-length tokens (block-diagonal attention), one row per step.
    packed = PackedDataset(_Listed(samples), args.pack_length)
    collate = PackedCollator(pad, supervised_logits=True)
    ours = [(collate([packed[i]]), (packed.lengths()[i], len(packed.packs[i]))) for i in range(len(packed))]
    steps = min(args.steps * 2, len(ours) - 1)
    seconds, real, count = run(model, ours, device, bf16, steps, supervised=True)
    computed = sum(b["input_ids"].numel() for b, _ in ours[1: steps + 1])
    report(f"SciTune (packed to {args.pack_length}, supervised logits{', bf16' if bf16 else ''})", seconds, real,
           count, computed)
    if args.baseline:
        order = list(range(len(samples)))
        random.Random(1).shuffle(order)
        naive_batches = []
        for i in range(0, len(order), args.batch_size):
            chosen = [samples[k] for k in order[i:i + args.batch_size]]
            naive_batches.append((Collator(pad)(chosen), (sum(len(s["input_ids"]) for s in chosen), len(chosen))))
        steps = min(args.steps, len(naive_batches) - 1)
        computed = sum(b["input_ids"].numel() for b, _ in naive_batches[1: steps + 1])
        for precision in ([True, False] if bf16 else [False]):
            seconds, real, count = run(model, naive_batches, device, precision, steps)
            report(f"naive (padded batches of {args.batch_size}, {'bf16' if precision else 'fp32'})", seconds, real,
                   count, computed)
    print(f"preset {args.preset}: {params / 1e6:.0f}M parameters, {model.config.image_seq_length} image tokens, "
          f"{args.samples} samples, device {device}\n")
    print("| path | real tokens/s | samples/s | padding computed | MFU | vs naive (same precision) |")
    print("|---|---|---|---|---|---|")
    naive_same = next((r[1] for r in rows if r[0].startswith("naive") and ("bf16" in r[0]) == bf16), None)
    for name, tokens, per_sample, padding, _ in rows:
        mfu = f"{6 * params * tokens / (args.peak_tflops * 1e12):.1%}" if args.peak_tflops else "n/a"
        ratio = f"{tokens / naive_same:.2f}x" if naive_same else "n/a"
        print(f"| {name} | {tokens:,.0f} | {per_sample:.2f} | {padding:.1%} | {mfu} | {ratio} |")


if __name__ == "__main__":
    main()
