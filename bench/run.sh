#!/usr/bin/env bash
# Benchmarks against the reference implementations, single thread.
#   bash bench/run.sh [BUILD_DIR] [N] [all|nnpu|pomp|pomp-shift|nn|moseva|gammaflow]
# Prints ms/spectrum for gspec and for the reference algorithm (a Python
# transcription of the authors' code, run with Debian's python3-numpy /
# python3-scipy when present) on identical spectra, and the ratio; for
# P-OMP also the agreement of the identified sets.
#   nnpu        N mixtures (default 2000) from the spec 2.1 sampler
#   pomp        unmixing.pomp, alpha 0.01, turn 2, on N (default 1000)
#               scenario-1 mixtures; the reference runs on the first
#               PY_N (default 200) of them
#   pomp-shift  unmixing.pomp-shift option 0 on the first N (default 100)
#               spectra of scenario 3's test split (reference on all N)
#   nn          the NN engine on the CPU-sized CNN and Turner et al.'s
#               reference CNN against PyTorch (Debian's python3-torch,
#               `apt install python3-torch`; skipped when absent): batch-1
#               latency and best-batch inference throughput on 1 thread,
#               training throughput on 2 threads; N = seconds per
#               measurement (default 3)
#   moseva      MoSeVa (variability kit, gs_moseva) on the notebook's
#               example, N runs (default 3), against the authors' 47 s
#               for the same call (gammabench-spec.md 3.5; needs the
#               GammaBench data and the IAE export)
#   gammaflow   ml.gammaflow's analyze (fit nnls and poisson, all extras)
#               on gamma_flow's measured isotope spectra after training on
#               the simulated + background sets, N passes (default 5),
#               against gamma_flow's transform in Python (scipy nnls +
#               cosine; needs ${GSPEC_DATA:-../shared/data}/gamma_flow)
# N empty or "-" keeps each part's default.  The GammaBench library is
# used when ${GSPEC_DATA:-../shared/data}/gammabench exists, the embedded
# one otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
narg=${2:--}
what=${3:-all}
case $what in
  all|nnpu|pomp|pomp-shift|nn|moseva|gammaflow) ;;
  *) echo "usage: bash bench/run.sh [BUILD_DIR] [N] [all|nnpu|pomp|pomp-shift|nn|moseva|gammaflow]" >&2
     exit 2 ;;
esac
size() { if [ "$narg" = - ]; then echo "$1"; else echo "$narg"; fi; }
want() { [ "$what" = all ] || [ "$what" = "$1" ]; }
targets=()
want nnpu && targets+=(gspec_bench_nnpu)
{ want pomp || want pomp-shift; } && targets+=(gspec_bench_pomp)
want nn && targets+=(gspec_bench_nn)
want moseva && targets+=(gspec_bench_moseva)
want gammaflow && targets+=(gspec_bench_gammaflow ml_gammaflow)
cmake --build "$build" --target "${targets[@]}" -j2 >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
data="${GSPEC_DATA:-../shared/data}/gammabench"
have_data=0
[ -d "$data" ] && have_data=1
py=/usr/bin/python3
have_py=0
"$py" -c 'import numpy, scipy' 2>/dev/null && have_py=1
bp="$build/bench/gspec_bench_pomp"
ratio() {
  awk -v c="$1" -v p="$2" \
    'BEGIN{ if (c > 0) printf "ratio reference(Python)/gspec: %.0fx\n", p/c }'
}

if want nnpu; then
  n=$(size 2000)
  lib=configs/libraries/gammabench-s1.yaml
  [ $have_data = 1 ] || lib=configs/libraries/embedded.yaml
  echo "== NNPU, library $lib, $n spectra (spec 2.1 sampler, seed 1)"
  "$build/bench/gspec_bench_nnpu" "$lib" "$n" 1 "$tmp/y.npy" | tee "$tmp/c.txt"
  if "$py" -c 'import numpy' 2>/dev/null; then
    "$py" bench/reference_nnpu.py "$tmp/y.npy.library.npy" "$tmp/y.npy" \
      "$tmp/y.npy.counts.txt" | tee "$tmp/py.txt"
    c=$(awk '/^NEWTON_MS/{print $2}' "$tmp/c.txt")
    p=$(awk '/^PY_MS/{print $2}' "$tmp/py.txt")
    ratio "$c" "$p"
  else
    echo "python3-numpy not installed: Python reference skipped"
  fi
fi

# time_method NAME METHOD Y.npy OUT.json SOURCE... -- OPTIONS...: runs
# gspec's method; returns 1 (with a note) when its plugin is not built.
time_method() {
  local rc=0
  "$bp" time "$@" > "$tmp/gs.txt" 2> "$tmp/gs.err" || rc=$?
  if [ $rc = 3 ]; then
    echo "gspec: $2 not available (plugin not built): gspec side skipped"
    return 1
  elif [ $rc != 0 ]; then
    cat "$tmp/gs.err" >&2
    exit $rc
  fi
  cat "$tmp/gs.txt"
}

if want pomp; then
  n=$(size 1000)
  npy=$(( n < ${PY_N:-200} ? n : ${PY_N:-200} ))
  if [ $have_data = 1 ]; then
    src=(--yaml configs/libraries/gammabench-s1.yaml)
  else
    src=(--yaml configs/libraries/embedded.yaml)
  fi
  echo "== P-OMP (alpha 0.01, turn 2), library ${src[1]}, $n spectra" \
       "(spec 2.1 sampler, seed 1); reference on the first $npy"
  "$bp" draw "$tmp/p.npy" "$n" 1 "${src[@]}" >/dev/null
  c=
  if time_method unmixing.pomp "$tmp/p.npy" "$tmp/p-gs.json" "${src[@]}" \
       --fpr 0.01 --param turn=2; then
    c=$(awk '/^GSPEC_MS/{print $2}' "$tmp/gs.txt")
  fi
  if [ $have_py = 1 ]; then
    "$py" bench/reference_pomp.py pomp "$tmp/p.npy.lib.npy" "$tmp/p.npy" \
      "$tmp/p-py.json" --alpha 0.01 --turn 2 --n "$npy" | tee "$tmp/py.txt"
    p=$(awk '/^PY_MS/{print $2}' "$tmp/py.txt")
    if [ -n "$c" ]; then
      ratio "$c" "$p"
      "$py" bench/reference_pomp.py compare "$tmp/p-gs.json" "$tmp/p-py.json"
    fi
  else
    echo "python3-numpy/scipy not installed: Python reference skipped"
  fi
fi

if want pomp-shift; then
  n=$(size 100)
  if [ $have_data = 1 ]; then
    src=(--scenario "$data" 3 -1)
  else
    src=(--scenario embedded 3 -1)
  fi
  echo "== P-OMP with gain shift (option 0, alpha 0.01, turn 2), scenario 3" \
       "test split, first $n spectra, reference library (shift index 10)"
  "$bp" draw "$tmp/s.npy" "$n" 1 "${src[@]}" >/dev/null
  c=
  if time_method unmixing.pomp-shift "$tmp/s.npy" "$tmp/s-gs.json" \
       "${src[@]}" --fpr 0.01 --param option=0; then
    c=$(awk '/^GSPEC_MS/{print $2}' "$tmp/gs.txt")
  fi
  if [ $have_py = 1 ]; then
    "$py" bench/reference_pomp.py drift "$tmp/s.npy.lib.npy" "$tmp/s.npy" \
      "$tmp/s-py.json" --option 0 --alpha 0.01 --turn 2 | tee "$tmp/py.txt"
    p=$(awk '/^PY_MS/{print $2}' "$tmp/py.txt")
    if [ -n "$c" ]; then
      ratio "$c" "$p"
      "$py" bench/reference_pomp.py compare "$tmp/s-gs.json" \
        "$tmp/s-py.json" --shift
    fi
  else
    echo "python3-numpy/scipy not installed: Python reference skipped"
  fi
fi

if want nn; then
  secs=$(size 3)
  have_torch=0
  "$py" -c 'import torch' 2>/dev/null && have_torch=1
  for arch in cpu turner; do
    echo "== NN engine, $arch architecture ($secs s per measurement)"
    OPENBLAS_NUM_THREADS=1 "$build/bench/gspec_bench_nn" "$arch" "$secs" \
      | tee "$tmp/nn.txt"
    if [ $have_torch = 1 ]; then
      "$py" bench/reference_torch.py "$arch" "$secs" | tee "$tmp/torch.txt"
      get() { awk -v k="$1" '$1 == k {print $2}' "$2"; }
      awk -v lat="$(get LAT1_MS "$tmp/nn.txt")" \
          -v tlat="$(get TORCH_LAT1_MS "$tmp/torch.txt")" \
          -v inf="$(get INF_SPS "$tmp/nn.txt")" \
          -v tinf="$(get TORCH_INF_SPS "$tmp/torch.txt")" \
          -v tr="$(get TRAIN_SPS "$tmp/nn.txt")" \
          -v ttr="$(get TORCH_TRAIN_SPS "$tmp/torch.txt")" \
          -v gf="$(get INF_GFLOPS "$tmp/nn.txt")" \
          -v peak="$(get SGEMM_GFLOPS "$tmp/nn.txt")" 'BEGIN {
        printf "ratio batch-1 latency PyTorch/gspec: %.2fx\n", tlat / lat
        printf "ratio inference throughput gspec/PyTorch(batch 512): %.2fx\n", inf / tinf
        printf "ratio training throughput gspec/PyTorch (2 threads): %.2fx\n", tr / ttr
        printf "inference at %.0f %% of the sgemm peak\n", 100 * gf / peak }'
    else
      echo "python3-torch not installed: PyTorch reference skipped"
    fi
  done
fi

if want moseva; then
  n=$(size 3)
  if [ -f "$data/reference/iae/iae_weights.json" ]; then
    echo "== MoSeVa, the notebook's example (spec 3.5), $n runs, 1 thread"
    "$build/bench/gspec_bench_moseva" "$(dirname "$data")" "$n"
  else
    echo "MoSeVa: no GammaBench data / IAE export under $data: skipped"
  fi
fi

if want gammaflow; then
  n=$(size 5)
  gfdata="${GSPEC_DATA:-../shared/data}"
  if [ -d "$gfdata/gamma_flow" ]; then
    echo "== ml.gammaflow analyze on gamma_flow's measured spectra, best of" \
         "$n passes, 1 thread"
    GSPEC_PLUGIN_PATH="$build/plugins" "$build/bench/gspec_bench_gammaflow" \
      "$gfdata" "$n" "$tmp/gf" > "$tmp/gf.txt" 2> "$tmp/gf.err" \
      || { cat "$tmp/gf.err" >&2; exit 1; }
    grep -v '^gspec: info' "$tmp/gf.err" >&2 || true
    cat "$tmp/gf.txt"
    if [ $have_py = 1 ]; then
      "$py" bench/reference_gammaflow.py "$tmp/gf.loadings.npy" \
        "$tmp/gf.spectra.npy" | tee "$tmp/py.txt"
      c=$(awk '/^NNLS_US/{print $2}' "$tmp/gf.txt")
      p=$(awk '/^PY_US/{print $2}' "$tmp/py.txt")
      awk -v c="$c" -v p="$p" \
        'BEGIN{ if (c > 0) printf "ratio reference(Python)/gspec (fit nnls): %.1fx\n", p/c }'
    else
      echo "python3-numpy/scipy not installed: Python reference skipped"
    fi
  else
    echo "gammaflow: no gamma_flow data under $gfdata: skipped"
  fi
fi
