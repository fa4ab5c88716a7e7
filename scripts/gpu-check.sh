#!/usr/bin/env bash
# Runs Tide's GPU tests on a machine with an NVIDIA GPU and prints a short table last.
#   scripts/gpu-check.sh                 build the engine tests with TIDE_CUDA=ON here, then run them
#   scripts/gpu-check.sh path/to/tide_engine_tests   run a binary built elsewhere (a GPU machine
#                                        without Tide's Debian packages)
# By default only the GPU tests run (gtest filter 'Cuda*'); TIDE_GPU_CHECK_FILTER='*' runs
# the whole engine suite. Each run of the binary is cut off after TIDE_GPU_CHECK_TIMEOUT
# seconds (default 600), so a hung test cannot hold a lent GPU machine.
# The CUDA parity tests print one "[parity] ..." line per kernel and shape (the measured
# relative error against the CPU reference); they are repeated, with the worst per kernel,
# before the table. Logs go to $OUT when set (the device machine), else a temporary folder.
# With transformers installed, bench/hf_parity.py draws a fresh checkpoint for the CudaModel
# transformers-parity test; TIDE_GPU_BENCH=path/to/tide_gpu_bench also runs the decode
# benchmark and bench/torch_moe_decode.py (about a minute and 5 GB of disk).
# Exit status is non-zero if any test fails or no GPU test actually ran.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${1:-}"
if [ -z "$bin" ]; then
  source "$root/scripts/common.sh"
  tide_build "$root/build-gpu" RelWithDebInfo -DTIDE_CUDA=ON
  bin="$root/build-gpu/tests/tide_engine_tests"
fi
out="${OUT:-$(mktemp -d)}"
gpu="$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1 || echo none)"

filter="${TIDE_GPU_CHECK_FILTER:-Cuda*}"
limit="${TIDE_GPU_CHECK_TIMEOUT:-600}"

# A fresh random Qwen3MoeForCausalLM from transformers, when it is installed, for
# CudaModelTest.MatchesTransformersLogits (which always checks the repo's fixture too).
if python3 -c "import transformers" >/dev/null 2>&1; then
  python3 "$root/bench/hf_parity.py" "$out/hf_parity" >"$out/hf_parity.log" 2>&1 &&
    export TIDE_HF_PARITY_DIR="$out/hf_parity"
fi

status=0
timeout "$limit" "$bin" --gtest_brief=0 --gtest_filter="$filter" >"$out/engine_tests.log" 2>&1 || status=1
passed=$(grep -c '^\[       OK \]' "$out/engine_tests.log" || true)
failed=$(grep -c '^\[  FAILED  \].*(' "$out/engine_tests.log" || true)
skipped=$(grep -c '^\[  SKIPPED \]' "$out/engine_tests.log" || true)
cuda_ok=$(grep -c '^\[       OK \] Cuda' "$out/engine_tests.log" || true)

memcheck="not run"
if command -v compute-sanitizer >/dev/null 2>&1; then
  # NCCL probes its own kernel images at communicator creation (cudaFuncGetAttributes ->
  # cudaErrorNoKernelImageForDevice, handled inside libnccl); memcheck would count those
  # API errors, so the NCCL tests run with API-error reports off (memory errors still count).
  if timeout "$limit" compute-sanitizer --tool memcheck --error-exitcode 9 "$bin" --gtest_filter='Cuda*:-CudaNccl*' >"$out/memcheck.log" 2>&1 &&
     timeout "$limit" compute-sanitizer --tool memcheck --report-api-errors no --error-exitcode 9 "$bin" --gtest_filter='CudaNccl*' >>"$out/memcheck.log" 2>&1; then
    memcheck="0 errors"
  else
    memcheck="errors (see memcheck.log)"
    status=1
  fi
fi
# The argument-check tests pass without a GPU too: a kernel ran only if a parity line exists.
parity_runs=$(grep -c '^\[parity\]' "$out/engine_tests.log" || true)
[ "$parity_runs" -gt 0 ] || status=1

grep -h '^\[parity\]' "$out/engine_tests.log" >"$out/parity.log" || true
if [ -s "$out/parity.log" ]; then
  printf '\n'
  cat "$out/parity.log"
  # Worst relative error per kernel: the last field is name=value.
  printf '\n%-28s %s\n' "kernel" "worst rel. err (shapes)"
  awk '{ split($NF, kv, "="); k = $2; if ($3 == "f32") k = k " f32";
         v = kv[2] + 0; if (!(k in w) || v > w[k]) w[k] = v; n[k]++ }
       END { for (k in w) printf "%-28s %.3g (%d)\n", k, w[k], n[k] }' "$out/parity.log" | sort
fi

# Decode speed (TIDE_GPU_BENCH=path/to/tide_gpu_bench): the device model against the
# PyTorch eager baseline on the same weights and prompts, and the batch-1 roofline.
bench_line="not run (set TIDE_GPU_BENCH)"
if [ -n "${TIDE_GPU_BENCH:-}" ]; then
  if timeout "$limit" "$TIDE_GPU_BENCH" --save "$out/bench_ckpt" --json "$out/tide_bench.json" >"$out/tide_bench.log" 2>&1 &&
     timeout "$limit" python3 "$root/bench/torch_moe_decode.py" "$out/bench_ckpt" >"$out/torch.log" 2>&1; then
    grep -E '^batch' "$out/tide_bench.log" || true
    grep -E '^torch eager' "$out/torch.log" || true
    bench_line="see above ($out/tide_bench.json)"
  else
    bench_line="failed (see tide_bench.log, torch.log)"
    status=1
  fi
fi

grep '^\[  FAILED  \].*(' "$out/engine_tests.log" || true
printf '\n%-28s %s\n' "gpu" "$gpu"
printf '%-28s %s\n' "gtest filter" "$filter"
printf '%-28s %s\n' "engine tests passed" "$passed"
printf '%-28s %s\n' "engine tests failed" "$failed"
printf '%-28s %s\n' "engine tests skipped" "$skipped"
printf '%-28s %s\n' "CUDA tests passed" "$cuda_ok"
printf '%-28s %s\n' "GPU parity checks run" "$parity_runs"
printf '%-28s %s\n' "compute-sanitizer memcheck" "$memcheck"
printf '%-28s %s\n' "transformers parity dir" "${TIDE_HF_PARITY_DIR:-fixture only}"
printf '%-28s %s\n' "decode bench" "$bench_line"
exit $status
