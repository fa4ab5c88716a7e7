#!/usr/bin/env bash
# Installs the Debian packages Tide builds and tests with. Idempotent: packages already
# present are skipped, and `apt-get update` runs at most once per invocation.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  librocksdb-dev
  libboost-dev libboost-system-dev libssl-dev
  nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev
  libopenblas-dev
  libpng-dev chromium  # the trace page rendered headless in tests/e2e/trace_cli_test.cc
  bubblewrap  # the run_command tool's sandbox (workers/sandbox_tool.h)
  gnuplot-nox  # learning-curve PNGs (rl/learning_curves.h, `tide train curves`)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Node test clients (the official `openai` SDK, @grpc/grpc-js and @grpc/proto-loader for the
# Env service, MCP servers; pinned in tests/e2e/node/package-lock.json)
# for the end-to-end tests; they skip when Node or the package is absent.
install_node_clients() {
  local dir
  dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/e2e/node"
  # Installed when every pinned package is there (a checkout that predates one gets it).
  if [ -f "$dir/node_modules/openai/package.json" ] &&
     [ -f "$dir/node_modules/@modelcontextprotocol/server-memory/package.json" ] &&
     [ -f "$dir/node_modules/@modelcontextprotocol/server-filesystem/package.json" ] &&
     [ -f "$dir/node_modules/@grpc/grpc-js/package.json" ] &&
     [ -f "$dir/node_modules/@grpc/proto-loader/package.json" ]; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "setup: npm not found; the OpenAI SDK end-to-end test will be skipped"
    return 0
  fi
  echo "setup: installing the Node test clients in $dir"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) ||
    echo "setup: npm ci failed; the OpenAI SDK end-to-end test will be skipped"
}

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} Debian packages present"
  install_node_clients
  exit 0
fi

echo "setup: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
install_node_clients
