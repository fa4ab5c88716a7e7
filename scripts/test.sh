#!/usr/bin/env bash
# Set-up, configure, build and run every test with ctest.
#   scripts/test.sh              the normal build (build/)
#   TIDE_SANITIZE=1 scripts/test.sh   an ASan+UBSan build (build-asan/)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [ "${TIDE_SANITIZE:-0}" = "1" ]; then
  build_dir="${TIDE_BUILD_DIR:-$TIDE_ROOT/build-asan}"
  tide_build "$build_dir" Debug -DTIDE_SANITIZE=ON
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
else
  build_dir="${TIDE_BUILD_DIR:-$TIDE_ROOT/build}"
  tide_build "$build_dir" RelWithDebInfo
fi
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc 2>/dev/null || echo 2)"
