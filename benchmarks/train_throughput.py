"""Training throughput: SciTune's path (packing, bf16 where the hardware has it) against plain
`transformers` Llava trained the naive way (random batches padded to the longest, no packing), same
model, same samples, same process.

    python benchmarks/train_throughput.py --preset embedded --baseline          # CPU, the embedded default
    python benchmarks/train_throughput.py --preset llava-1.5-7b --lm-layers 32 --baseline   # GPU
    python benchmarks/train_throughput.py --family qwen2_vl     # a tiny random model of a released family

`--family F` trains a tiny random model of family F (scitune.model.tiny_families: its real processor,
its chat template) on the same kind of mix, each sample encoded by the family's own encoder with an
image of a random size (dynamic-resolution families give it a token count to match), padded batches
against packed rows where the family packs exactly (else the reason it does not).

Random weights in the preset's shapes (`--lm-layers`/`--vision-layers` shorten them). Workload: a
ScienceQA-like mix: half of the samples carry an image (the preset's image tokens), text lengths
uniform in 60-600 tokens, the answer (supervised) the last 40% of the text. Real tokens are the
non-padding ones; MFU counts 6 FLOPs per parameter per real token (forward + backward) against the
device's peak (`--peak-tflops`, for GPUs; attention FLOPs and activation recomputation are not
counted, as usual for MFU). Both paths see the same `--batch-size` samples per optimizer step: the
naive one padded to the longest, SciTune's packed into even rows of `--pack-length` tokens as
`scitune train` packs a step (scitune.train.steps). `--json` also writes the figures to a file.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

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
from scitune.train.steps import PackedSteps, RowsCollator, StepPlan


def build(preset: str, lm_layers: int | None, vision_layers: int | None, tokenizer_dir: str | None = None):
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir or embedded_lm_folder())
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


def family_workload(encoder, count: int, seed: int = 0) -> list[dict]:
    """The mix above through a family's own encoder: text of 60-600 words (the answer the last 40%),
    every other sample with an image of random size and content, its inputs as the processor makes them."""
    from PIL import Image

    from scitune.contracts import Instruction

    rng = random.Random(seed)
    words = ["figure", "axis", "value", "shows", "the", "rate", "of", "energy", "sample", "plot", "data", "curve"]
    samples = []
    for n in range(count):
        length = rng.randint(60, 600)
        text = [rng.choice(words) for _ in range(length)]
        answer, question = " ".join(text[int(length * 0.6):]), " ".join(text[: int(length * 0.6)])
        image = None
        if n % 2 == 0:
            size = (rng.randint(100, 600), rng.randint(80, 500))
            image = Image.frombytes("RGB", size, bytes(rng.randrange(256) for _ in range(size[0] * size[1] * 3)))
            question = "<image>\n" + question
        instruction = Instruction.model_validate({"id": str(n), "image": "x.png" if image else None, "source": {},
                                                  "conversations": [{"from": "human", "value": question},
                                                                    {"from": "gpt", "value": answer}]})
        encoded = encoder.encode(instruction, image.size if image else None)
        sample = {"input_ids": encoded.input_ids, "labels": encoded.labels}
        if image is not None:
            sample["image_inputs"] = encoder.image_inputs(image)
        samples.append(sample)
    return samples


def run_family(args) -> None:
    """Tiny model of a released family: real tokens/s and padding, padded batches vs packed rows."""
    from scitune.model.batching import rope_positions
    from scitune.model.families import family
    from scitune.model.template import encoder_for
    from scitune.model.tiny_families import build_tiny

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model, processor = build_tiny(args.family, seed=0)
    model.to(device)
    encoder = encoder_for(processor)
    started = time.perf_counter()
    samples = family_workload(encoder, args.samples)
    encode_seconds = time.perf_counter() - started
    pad, bf16, fam = processor.tokenizer.pad_token_id, use_bf16("auto"), family(args.family)
    rows = []
    order = list(range(len(samples)))
    random.Random(1).shuffle(order)
    padded = []
    for i in range(0, len(order), args.batch_size):
        chosen = [samples[k] for k in order[i:i + args.batch_size]]
        batch = Collator(pad, supervised_logits=True, token_types=encoder.token_types)(chosen)
        padded.append((batch, (sum(len(s["input_ids"]) for s in chosen), len(chosen))))
    steps = min(args.steps, len(padded) - 1)
    seconds, real, count = run(model, padded, device, bf16, steps, supervised=True)
    computed = sum(b["input_ids"].numel() for b, _ in padded[1: steps + 1])
    rows.append((f"padded batches of {args.batch_size}", real / seconds, count / seconds, 1 - real / computed))
    if fam.packs_exactly:
        packs = PackedDataset(_Listed(samples), args.pack_length)
        collate = PackedCollator(pad, supervised_logits=True, token_types=encoder.token_types,
                                 rope_positions=rope_positions(model) if fam.packing == "mrope" else None)
        packed = [(collate([packs[i]]), (packs.lengths()[i], len(packs.packs[i]))) for i in range(len(packs))]
        steps = min(args.steps * 2, len(packed) - 1)
        seconds, real, count = run(model, packed, device, bf16, steps, supervised=True)
        computed = sum(b["input_ids"].numel() for b, _ in packed[1: steps + 1])
        rows.append((f"packed to {args.pack_length}", real / seconds, count / seconds, 1 - real / computed))
    lengths = [len(s["input_ids"]) for s in samples]
    print(f"family {args.family} (tiny, random): {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters, "
          f"{args.samples} samples of {min(lengths)}-{max(lengths)} tokens (encoded in {encode_seconds:.1f} s), "
          f"device {device}{', bf16' if bf16 else ''}\n")
    print("| path | real tokens/s | samples/s | padding computed | vs padded |")
    print("|---|---|---|---|---|")
    for name, tokens, per_sample, padding in rows:
        print(f"| {name} | {tokens:,.0f} | {per_sample:.2f} | {padding:.1%} | {tokens / rows[0][1]:.2f}x |")
    if not fam.packs_exactly:
        print(f"| packed | refused: {fam.packing} | | | |")


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
    parser.add_argument("--tokenizer", help="tokenizer folder (default: the embedded LM's); shapes need no weights")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    parser.add_argument("--family", help="a tiny random model of this released family instead of a preset "
                                         "(llava, llava_next, qwen2_vl, qwen2_5_vl, idefics3, gemma3)")
    args = parser.parse_args()
    if args.family:
        run_family(args)
        return
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model, processor = build(args.preset, args.lm_layers, args.vision_layers, args.tokenizer)
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

    order = list(range(len(samples)))
    random.Random(1).shuffle(order)
    # Ours: each step's --batch-size samples packed into even rows of at most --pack-length tokens
    # (block-diagonal attention), as `scitune train` packs a step.
    packed = PackedSteps(_Listed(samples), order, StepPlan(args.batch_size, 1, 1), args.pack_length)
    collate = RowsCollator(PackedCollator(pad, supervised_logits=True))
    ours = [(collate([packed[i]]), (tokens, size)) for i, (tokens, size) in
            enumerate(zip(packed.tokens(), packed.step_samples))]
    steps = min(args.steps, len(ours) - 1)
    seconds, real, count = run(model, ours, device, bf16, steps, supervised=True)
    computed = sum(b["input_ids"].numel() for b, _ in ours[1: steps + 1])
    report(f"SciTune (packed to {args.pack_length}, supervised logits{', bf16' if bf16 else ''})", seconds, real,
           count, computed)
    if args.baseline:
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
    table = []
    for name, tokens, per_sample, padding, _ in rows:
        mfu = 6 * params * tokens / (args.peak_tflops * 1e12) if args.peak_tflops else None
        ratio = tokens / naive_same if naive_same else None
        table.append({"path": name, "real_tokens_per_s": tokens, "samples_per_s": per_sample, "padding": padding,
                      "mfu": mfu, "vs_naive": ratio})
        print(f"| {name} | {tokens:,.0f} | {per_sample:.2f} | {padding:.1%} | {'n/a' if mfu is None else f'{mfu:.1%}'} "
              f"| {'n/a' if ratio is None else f'{ratio:.2f}x'} |")
    if args.json:
        args.json.write_text(json.dumps({"preset": args.preset, "parameters": params, "device": str(device),
                                         "peak_tflops": args.peak_tflops, "rows": table}, indent=2))


if __name__ == "__main__":
    main()
