#!/usr/bin/env bash
# Set-up, build Release, and run the main job: a 20-item wide research task solved by a
# coordinator and 8 sub-agents, verified cell by cell. Extra arguments go to `tide swarm`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

build_dir="${TIDE_BUILD_DIR:-$TIDE_ROOT/build-release}"
tide_build "$build_dir" Release -DTIDE_BUILD_TESTS=OFF
export TIDE_DB="${TIDE_DB:-$TIDE_ROOT/.tide/db}"
"$build_dir/bin/tide" swarm --config "$TIDE_ROOT/configs/swarm.json" "$@"
"$build_dir/bin/tide" runs list --limit 5
