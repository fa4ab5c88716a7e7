#!/usr/bin/env bash
# Runs Tide's GPU tests on a machine with an NVIDIA GPU and prints a short table last.
#   scripts/gpu-check.sh                 build the engine tests with TIDE_CUDA=ON here, then run them
#   scripts/gpu-check.sh path/to/tide_engine_tests   run a binary built elsewhere (a GPU machine
#                                        without Tide's Debian packages)
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

status=0
"$bin" --gtest_brief=0 >"$out/engine_tests.log" 2>&1 || status=1
passed=$(grep -c '^\[       OK \]' "$out/engine_tests.log" || true)
failed=$(grep -c '^\[  FAILED  \].*(' "$out/engine_tests.log" || true)
skipped=$(grep -c '^\[  SKIPPED \]' "$out/engine_tests.log" || true)
cuda_ok=$(grep -c '^\[       OK \] Cuda' "$out/engine_tests.log" || true)

memcheck="not run"
if command -v compute-sanitizer >/dev/null 2>&1; then
  if compute-sanitizer --tool memcheck --error-exitcode 9 "$bin" --gtest_filter='Cuda*' >"$out/memcheck.log" 2>&1; then
    memcheck="0 errors"
  else
    memcheck="errors (see memcheck.log)"
    status=1
  fi
fi
[ "$cuda_ok" -gt 0 ] || status=1

printf '\n%-28s %s\n' "gpu" "$gpu"
printf '%-28s %s\n' "engine tests passed" "$passed"
printf '%-28s %s\n' "engine tests failed" "$failed"
printf '%-28s %s\n' "engine tests skipped" "$skipped"
printf '%-28s %s\n' "CUDA tests passed" "$cuda_ok"
printf '%-28s %s\n' "compute-sanitizer memcheck" "$memcheck"
exit $status
