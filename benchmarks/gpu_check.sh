#!/usr/bin/env bash
# The GPU check of issue #15, one button: on one H100/H200, in at most 10 minutes, it shows
#   1. inference as users get it: a checkpoint in LLaVA-1.5-7B shapes (random weights) saved, then
#      loaded by `load_for_inference` (GPU, bf16), 16 ScienceQA prompts × 32 new tokens, batch 1 vs 16,
#      items/s and whether the answers are the same;
#   2. a training step in LLaVA-7B shapes (32 layers, 576 image tokens) with packing: real tokens/s,
#      padding, MFU against the dense bf16 ceiling (989 TFLOP/s on H100/H200), vs padded batches;
#   3. an FSDP2 stage of world size 1 (`accelerate launch --config_file configs/accelerate_fsdp.yaml`):
#      it trains, saves STAGE/model (full weights gathered), which then loads and generates
#      (`scitune predict`, a template-less LM: vicuna_v1 prompts, answers stop at the EOS).
# and prints one table (also RESULTS/gpu_check.md, with each step's log and JSON beside it).
#
#   bash benchmarks/gpu_check.sh --prepare   # where PyPI is reachable: wheels the GPU image lacks and the
#                                            # tokenizer, into .gpu/ (git-ignored); then, on the GPU machine
#                                            # (the `run` tool, carry [".gpu"]):
#   bash benchmarks/gpu_check.sh             # the check; results in $OUT (or a temporary folder)
#   bash benchmarks/gpu_check.sh --dry-run   # the same steps at tiny shapes on the CPU, FSDP replaced by one
#                                            # torchrun process (accelerate shards only on GPUs); CI runs it
# GPU_CHECK_STEPS=inference,train,fsdp selects steps. Nothing is downloaded on the GPU machine.
set -uo pipefail
cd "$(dirname "$0")/.."
MODE=gpu
case "${1:-}" in
  --prepare) MODE=prepare ;;
  --dry-run) MODE=dry ;;
  "") ;;
  *) echo "usage: $0 [--prepare|--dry-run]" >&2; exit 2 ;;
esac
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && [ "$MODE" != gpu ] && PY=.venv/bin/python

if [ "$MODE" = prepare ]; then
  set -e
  mkdir -p .gpu/wheels .gpu/tokenizer
  grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
  # The GPU image (KINDS.md) has torch, accelerate 1.15, tokenizers, safetensors, huggingface-hub; not
  # pydantic, and transformers 5.17: the versions below are requirements.lock's.
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .gpu/wheels \
    transformers==5.23.0 pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 \
    peft==0.21.2 ijson==3.6.0
  "$PY" - <<'EOF'
import shutil
from pathlib import Path
from scitune.model.embedded import embedded_lm_folder
for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json"):
    if (embedded_lm_folder() / name).is_file():
        shutil.copy(embedded_lm_folder() / name, Path(".gpu/tokenizer") / name)
EOF
  du -sh .gpu
  exit 0
fi

RESULTS=${OUT:-$(mktemp -d)}
WORK=$(mktemp -d)
mkdir -p "$RESULTS"
STEPS=${GPU_CHECK_STEPS:-inference,train,fsdp}
if [ "$MODE" = gpu ]; then
  if [ -d .gpu/wheels ]; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/wheels/*.whl \
      || exit 1
    export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
  fi
  export PYTHONPATH=$PWD/src:${PYTHONPATH:-}
  TOKENIZER=$PWD/.gpu/tokenizer
  [ -f "$TOKENIZER/tokenizer.json" ] || { echo "no .gpu/tokenizer: run $0 --prepare first and carry .gpu" >&2; exit 2; }
  "$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA GPU'; print(torch.__version__, torch.cuda.get_device_name(0))" \
    || exit 2
  PEAK=${PEAK_TFLOPS:-989}
else
  TOKENIZER=$("$PY" -c "from scitune.model.embedded import embedded_lm_folder; print(embedded_lm_folder())")
  PEAK=0
fi
export PYTHONUNBUFFERED=1 SCITUNE_GPU_CHECK_MODE=$MODE
echo "gpu_check ($MODE): results in $RESULTS"

step() {  # step NAME COMMAND...: run, log, record the exit status (a failed step does not stop the others)
  local name=$1; shift
  local started=$SECONDS
  "$@" > "$RESULTS/$name.log" 2>&1
  local status=$?
  echo "{\"step\": \"$name\", \"status\": $status, \"seconds\": $((SECONDS - started))}" > "$RESULTS/$name.status.json"
  echo "  $name: exit $status in $((SECONDS - started)) s (log: $RESULTS/$name.log)"
  [ $status -eq 0 ] || tail -n 20 "$RESULTS/$name.log"
}

if [[ $STEPS == *inference* ]]; then
  if [ "$MODE" = gpu ]; then
    step inference "$PY" benchmarks/generate_throughput.py --model llava-1.5-7b --tokenizer "$TOKENIZER" --items 16 \
      --new-tokens 32 --batch-sizes 16 --checkpoint-dir "$WORK/ckpt" --json "$RESULTS/inference.json"
  else
    step inference "$PY" benchmarks/generate_throughput.py --model tiny --items 6 --new-tokens 4 --batch-sizes 4 \
      --json "$RESULTS/inference.json"
  fi
fi

if [[ $STEPS == *train* ]]; then
  if [ "$MODE" = gpu ]; then
    step train "$PY" benchmarks/train_throughput.py --preset llava-1.5-7b --lm-layers 32 --tokenizer "$TOKENIZER" \
      --samples 72 --batch-size 8 --pack-length 2048 --steps 6 --baseline --gradient-checkpointing \
      --peak-tflops "$PEAK" --json "$RESULTS/train.json"
  else
    step train "$PY" benchmarks/train_throughput.py --preset tiny --tokenizer "$TOKENIZER" --samples 12 --batch-size 4 \
      --pack-length 1024 --steps 2 --baseline --json "$RESULTS/train.json"
  fi
fi

if [[ $STEPS == *fsdp* ]]; then
  # A template-less random Llama (as Llama-2 base: BOS added, no chat template) and a one-stage recipe.
  "$PY" - "$WORK" "$TOKENIZER" "$MODE" <<'EOF'
import sys
from pathlib import Path
import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
work, tokenizer_dir, mode = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, add_bos_token=True)
tokenizer.chat_template = None
width, layers, vision = (2048, 8, (224, 14, 768, 4, 12)) if mode == "gpu" else (64, 2, (32, 16, 32, 1, 2))
torch.manual_seed(0)
config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=width, intermediate_size=width * 4 // 1, num_hidden_layers=layers,
                     num_attention_heads=max(2, width // 128), num_key_value_heads=max(2, width // 128),
                     bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
LlamaForCausalLM(config).save_pretrained(work / "lm")
tokenizer.save_pretrained(work / "lm")
size, patch, hidden, depth, heads = vision
(work / "recipe.yaml").write_text(f"""name: gpu-check-fsdp
output_dir: {work / 'run'}
seed: 0
corpus: {{demo: {{figures_per_type: 4, image_size: 64}}}}
curate:
  figures: {{test_fraction: 0.25, ocr: none, figure_types: [graph plot, scatter plot, bar chart, table, node diagram, equation]}}
model:
  language_model: {work / 'lm'}
  vision: {{model_type: clip_vision_model, image_size: {size}, patch_size: {patch}, hidden_size: {hidden},
           num_hidden_layers: {depth}, num_attention_heads: {heads}}}
  vision_feature_select_strategy: default
stages:
  - name: stage1
    data: questions
    train: {{vision_tower: frozen, multi_modal_projector: full, language_model: full}}
    learning_rate: 1.0e-4
    batch_size: 4
    samples_per_step: 8
    packing: true
    max_length: 1024
    precision: {'bf16' if mode == 'gpu' else 'fp32'}
    save_steps: 4
    report_to: []
""")
EOF
  step fsdp_prepare "$PY" -m scitune.cli run "$WORK/recipe.yaml" --until model:base
  if [ "$MODE" = gpu ]; then
    step fsdp_train "$PY" -m accelerate.commands.launch --config_file configs/accelerate_fsdp.yaml --num_processes 1 \
      -m scitune.cli train "$WORK/recipe.yaml" --stage stage1
  else
    step fsdp_train "$PY" -m torch.distributed.run --standalone --nproc_per_node=1 \
      -m scitune.cli train "$WORK/recipe.yaml" --stage stage1
  fi
  cp "$WORK/run/stage1/training_summary.json" "$RESULTS/fsdp_summary.json" 2>/dev/null
  step fsdp_generate "$PY" -m scitune.cli predict --model "$WORK/run/stage1/model" \
    --data "$WORK/run/curate/questions/test.jsonl" --output "$RESULTS/fsdp_predictions.jsonl" --limit 8 \
    --max-new-tokens 24 --batch-size 8
fi

"$PY" - "$RESULTS" "$MODE" "$WORK" <<'EOF' | tee "$RESULTS/gpu_check.md"
import json
import sys
from pathlib import Path
results, mode, work = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])

def read(name):
    path = results / name
    return json.loads(path.read_text()) if path.is_file() else None

def status(name):
    done = read(f"{name}.status.json")
    return "not run" if done is None else ("ok" if done["status"] == 0 else f"FAILED (exit {done['status']})") \
        + (f", {done['seconds']} s" if done else "")

rows = []
inference = read("inference.json")
if inference:
    one, batched = inference["rows"][0], inference["rows"][-1]
    rows.append(("inference, the user loader", f"{inference['model']} on {inference['placement']}",
                 f"batch 1: {one['items_per_s']:.2f} items/s; batch {batched['batch_size']}: "
                 f"{batched['items_per_s']:.2f} items/s ({batched['items_per_s'] / one['items_per_s']:.1f}x); "
                 f"same answers: {'yes' if all(r['same_answers'] for r in inference['rows']) else 'NO'}",
                 status("inference")))
else:
    rows.append(("inference, the user loader", "", "", status("inference")))
train = read("train.json")
if train:
    for row in train["rows"]:
        mfu = "n/a" if row["mfu"] is None else f"{row['mfu']:.1%}"
        rows.append((f"training step: {row['path']}", f"{train['preset']}, {train['parameters'] / 1e6:,.0f}M params",
                     f"{row['real_tokens_per_s']:,.0f} real tokens/s, padding {row['padding']:.1%}, MFU {mfu}"
                     + ("" if row["vs_naive"] is None else f", {row['vs_naive']:.2f}x naive"), status("train")))
else:
    rows.append(("training step", "", "", status("train")))
summary = read("fsdp_summary.json")
predictions = [json.loads(line) for line in (results / "fsdp_predictions.jsonl").read_text().splitlines()] \
    if (results / "fsdp_predictions.jsonl").is_file() else []
model = work / "run" / "stage1" / "model"
if summary:
    rows.append(("FSDP stage, world size 1", f"engine {summary['distributed']}, {summary['steps']} steps, "
                 f"{summary['samples_per_step']} samples/step",
                 f"full checkpoint saved: {'yes' if any(model.glob('*.safetensors')) else 'NO'}", status("fsdp_train")))
else:
    rows.append(("FSDP stage, world size 1", "", "", status("fsdp_train")))
if predictions:
    ok = [p for p in predictions if not p.get("error")]
    rows.append(("the saved checkpoint loads and generates", f"{len(ok)} of {len(predictions)} answered",
                 "first: " + repr(ok[0]["text"][:60]) if ok else "", status("fsdp_generate")))
else:
    rows.append(("the saved checkpoint loads and generates", "", "", status("fsdp_generate")))
print(f"\n## gpu_check ({'GPU' if mode == 'gpu' else 'dry run: tiny shapes on the CPU, no FSDP'})\n")
print("| check | what | result | status |")
print("|---|---|---|---|")
for row in rows:
    print("| " + " | ".join(str(cell).replace("|", "/") for cell in row) + " |")
EOF
rm -rf "$WORK"
failed=$(cat "$RESULTS"/*.status.json 2>/dev/null | grep -vc '"status": 0')
exit $(( failed > 0 ? 1 : 0 ))
