#!/usr/bin/env bash
# Set-up, build Release, and run the main job: a 20-item wide research task for a
# coordinator and up to 8 sub-agents, all decoding on the committed default model
# (models/swarm-s) in this process, verified cell by cell. Extra arguments go to
# `tide swarm` (e.g. --policy oracle for the env's scripted teacher, --model-dir DIR).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

build_dir="${TIDE_BUILD_DIR:-$TIDE_ROOT/build-release}"
tide_build "$build_dir" Release -DTIDE_BUILD_TESTS=OFF
export TIDE_DB="${TIDE_DB:-$TIDE_ROOT/.tide/db}"
# Exit code 1 is a verified run that did not succeed: a result, printed like any other.
rc=0
"$build_dir/bin/tide" swarm --config "$TIDE_ROOT/configs/swarm.json" "$@" || rc=$?
"$build_dir/bin/tide" runs list --limit 5
if [[ $rc -gt 1 ]]; then exit "$rc"; fi
