#!/usr/bin/env bash
# Benchmarks against the reference implementations, single thread.
#   bash bench/run.sh [BUILD_DIR] [N]
# Prints ms/spectrum for gspec and for the reference algorithm (a Python
# transcription of the authors' code, run with Debian's python3-numpy when
# present) on identical spectra, and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
n=${2:-2000}
cmake --build "$build" --target gspec_bench_nnpu -j2 >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
lib=configs/libraries/gammabench-s1.yaml
[ -d "${GSPEC_DATA:-../shared/data}/gammabench" ] || lib=configs/libraries/embedded.yaml
echo "== NNPU, library $lib, $n spectra (spec 2.1 sampler, seed 1)"
"$build/bench/gspec_bench_nnpu" "$lib" "$n" 1 "$tmp/y.npy" | tee "$tmp/c.txt"
py=/usr/bin/python3
if "$py" -c 'import numpy' 2>/dev/null; then
  "$py" bench/reference_nnpu.py "$tmp/y.npy.library.npy" "$tmp/y.npy" \
    "$tmp/y.npy.counts.txt" | tee "$tmp/py.txt"
  c=$(awk '/^NEWTON_MS/{print $2}' "$tmp/c.txt")
  p=$(awk '/^PY_MS/{print $2}' "$tmp/py.txt")
  awk -v c="$c" -v p="$p" 'BEGIN{printf "ratio reference(Python)/gspec: %.0fx\n", p/c}'
else
  echo "python3-numpy not installed: Python reference skipped"
fi
