#!/usr/bin/env bash
# Trains the default model, swarm-s, from scratch: verified swarm data from the env's
# oracle (`tide gen`), SFT (`tide train sft`), then GRPO on real swarms (`tide train rl`),
# then evaluation on held-out seeds. One command; every stage resumes where it stopped, so
# the script can be re-run after a kill. Usage:
#   scripts/train-swarm-s.sh [WORK_DIR]      (default build/swarm-s-train)
#   TIDE_INSTALL=1 scripts/train-swarm-s.sh  also copies the result into models/swarm-s/
# Seeds: training tasks derive from gen seeds 11 and 12 and RL seeds from 1000000 up; the
# held-out evaluation uses task seeds 9000-9009, which none of them produce.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$TIDE_ROOT"
build_dir="${TIDE_BUILD_DIR:-$TIDE_ROOT/build-release}"
tide_build "$build_dir" Release -DTIDE_BUILD_TESTS=OFF
TIDE="$build_dir/bin/tide"
WORK="${1:-$TIDE_ROOT/build/swarm-s-train}"
mkdir -p "$WORK"

stage() { echo "== $(date -u +%H:%M:%S) $*" >&2; }

if [[ ! -s "$WORK/data/sft.jsonl" ]]; then
  # Research only: api-goal sub-agents carry ~2,000 prompt tokens of tool schemas each,
  # which would take over half of the two-hour budget.
  stage "gen: research wide and lookup tasks, 2-10 items"
  "$TIDE" gen --worlds research --families wide,lookup --tasks 3000 --seed 11 \
    --out "$WORK/data/mixed" --no-progress --json
  stage "gen: research wide tasks with 20 items"
  "$TIDE" gen --worlds research --families wide --items 20 --tasks 200 --seed 12 \
    --out "$WORK/data/wide20" --no-progress --json
  stage "gen: held-out tasks for the SFT eval loss"
  "$TIDE" gen --worlds research --families wide,lookup --tasks 40 --seed 13 \
    --out "$WORK/data/heldout" --no-progress --json
  cat "$WORK/data/mixed/examples.jsonl" "$WORK/data/wide20/examples.jsonl" > "$WORK/data/sft.tmp"
  mv "$WORK/data/sft.tmp" "$WORK/data/sft.jsonl"
fi

stage "sft"
"$TIDE" train sft --config configs/train/swarm-s-sft.json --data "$WORK/data/sft.jsonl" \
  --eval-data "$WORK/data/heldout/examples.jsonl" --out "$WORK/sft" --json

stage "rl"
"$TIDE" train rl --config configs/train/swarm-s-rl.json --model "$WORK/sft" --out "$WORK/rl" --json

stage "eval on held-out seeds 9000-9009"
for model in sft rl; do
  for mode in swarm single; do
    "$TIDE" eval --model "$WORK/$model" --world research --family wide --items 20 --seeds 9000-9009 \
      --mode "$mode" --max-tokens 4096 --max-subagent-steps 30 --json > "$WORK/eval-$model-wide20-$mode.json"
  done
done
cat "$WORK"/eval-*.json

if [[ "${TIDE_INSTALL:-0}" == 1 ]]; then
  mkdir -p models/swarm-s
  cp "$WORK/rl/config.json" "$WORK/rl/model.safetensors" "$WORK/rl/tokenizer.json" models/swarm-s/
  stage "installed into models/swarm-s"
fi
