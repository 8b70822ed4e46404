#!/usr/bin/env bash
# The R Keras seed's experiment ("fine-tuning your own model in R Keras"), with graft:
#
#   1. a 2-5-7-1 network (relu, sigmoid output) trained from scratch on the large XOR set
#      (100,000 points; 5 epochs, batch 100, SGD at 0.05),
#   2. that model fine-tuned from layer 2 on the small set (100 points; 5 epochs, batch 5),
#   3. the same network trained from scratch on the small set alone,
#
# then each model's accuracy on the large set (graft evaluate --json) and their decision
# boundaries (graft plot-boundary). Fine-tuning should beat training on the small set alone.
#
# Usage: examples/xor-finetune.sh [OUT_DIR]
#   XOR_DATA  folder with xor_complex_large.txt and xor_complex_small.txt
#             (default: ../shared/fixtures/real/xor next to the repository)
#   SEED      seed for the fresh weights and the shuffling (default 1)
#   GRAFT     how to run graft (default: node bin/graft.js of this repository)
#   THREADS   wasm threads for train, finetune and evaluate (default: graft's; a 2-5-7-1 network
#             is too small to gain from more than one)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
out="${1:-xor-result}"
data="${XOR_DATA:-$repo/../shared/fixtures/real/xor}"
seed="${SEED:-1}"
if [[ -n "${GRAFT:-}" ]]; then read -r -a graft <<<"$GRAFT"; else graft=(node "$repo/bin/graft.js"); fi
large="$data/xor_complex_large.txt"
small="$data/xor_complex_small.txt"
net="$repo/fixtures/xor/xor-net.json"
mkdir -p "$out"

# Keras's fit: no validation split, reshuffled every epoch. The model to keep is the last epoch's.
common=(--optimizer sgd --lr 0.05 --epochs 5 --val-split 0 --seed "$seed")
threads=()
if [[ -n "${THREADS:-}" ]]; then threads=(--threads "$THREADS"); fi
common+=("${threads[@]}")

echo "== 1. large set, from scratch"
"${graft[@]}" train --arch "$net" --data "$large" --batch-size 100 --out "$out/large" "${common[@]}"

# R: unfreeze_weights(model, from = 2). Index 0 is the input layer, 1 the first Dense (kept as
# trained on the large set), 2 its ReLU: `graft inspect $out/large/last` lists them.
echo "== 2. small set, fine-tuned from layer 2"
"${graft[@]}" inspect "$out/large/last" --trainable --unfreeze-from 2
"${graft[@]}" finetune --from "$out/large/last" --unfreeze-from 2 --data "$small" --batch-size 5 --out "$out/finetuned" "${common[@]}"

echo "== 3. small set, from scratch"
"${graft[@]}" train --arch "$net" --data "$small" --batch-size 5 --out "$out/scratch" "${common[@]}"

echo "== accuracy on the large set"
for run in large finetuned scratch; do
  "${graft[@]}" evaluate --model "$out/$run/last" --data "$large" --json "${threads[@]}" >"$out/$run-on-large.json"
done
"${graft[@]}" plot-boundary "$out/large/last" --data "$large" --out "$out/large-boundary.png"
"${graft[@]}" plot-boundary "$out/finetuned/last" --data "$small" --out "$out/finetuned-boundary.png"
"${graft[@]}" plot-boundary "$out/scratch/last" --data "$small" --out "$out/scratch-boundary.png"

node -e '
  const fs = require("fs");
  const [dir, ...runs] = process.argv.slice(1);
  for (const run of runs) {
    const r = JSON.parse(fs.readFileSync(`${dir}/${run}-on-large.json`, "utf8"));
    console.log(`${run.padEnd(10)} accuracy on the large set: ${r.accuracy.toFixed(4)}  confusion ${JSON.stringify(r.confusion)}`);
  }
' "$out" large finetuned scratch
echo "decision boundaries: $out/large-boundary.png $out/finetuned-boundary.png $out/scratch-boundary.png"
