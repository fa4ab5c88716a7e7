# Shared by run.sh and test.sh: set-up, then configure and build into $1 with build type $2
# and any extra CMake arguments after that.
set -euo pipefail
TIDE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/tide-ccache}"
# Paths inside the checkout hash relative to it, so a fresh clone elsewhere reuses the cache.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$TIDE_ROOT}"

tide_build() {
  local build_dir="$1" build_type="$2"
  shift 2
  bash "$TIDE_ROOT/scripts/setup.sh"
  local jobs
  jobs="$(nproc 2>/dev/null || echo 2)"
  cmake -S "$TIDE_ROOT" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="$build_type" "$@"
  cmake --build "$build_dir" -j "$jobs"
}
