#!/usr/bin/env bash
# The first README command: install what is missing, build, and run the
# quickstart experiment on the embedded default library.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)"
build/gspec run configs/quickstart.yaml "$@"
