#!/usr/bin/env bash
# Runs every spectrum-file fuzz target for SECONDS each (default 60) on
# its seed corpus (tests/fuzz/corpus/<format>/, copied to a scratch
# folder so new inputs do not land in the tree).  Build first:
#   CC=clang cmake -S . -B build-fuzz -DGSPEC_FUZZ=ON \
#       -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF
#   cmake --build build-fuzz --target gspec_fuzz_all -j
#   bash scripts/fuzz.sh build-fuzz 60
# Exit status 0 when no target found anything; a finding leaves its
# reproducer (crash-*, leak-*, timeout-*) in OUT/<format>/.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-fuzz}
secs=${2:-60}
out=${3:-$build/fuzz-out}
status=0
for fmt in n42 spe chn cnf csv; do
  bin="$build/tests/fuzz/gspec_fuzz_$fmt"
  [ -x "$bin" ] || { echo "missing $bin: build the fuzz targets first" >&2; exit 2; }
  mkdir -p "$out/$fmt/corpus"
  cp -n tests/fuzz/corpus/"$fmt"/* "$out/$fmt/corpus/" 2>/dev/null || true
  echo "== $fmt: $secs s"
  if ! (cd "$out/$fmt" && "$OLDPWD/$bin" -max_total_time="$secs" \
          -timeout=10 -rss_limit_mb=2048 -max_len=1048576 \
          -print_final_stats=1 corpus > log.txt 2>&1); then
    echo "   FINDING: see $out/$fmt/log.txt"; status=1
  fi
  grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "$out/$fmt/log.txt" | tail -1 | sed 's/^/   /'
done
exit $status
