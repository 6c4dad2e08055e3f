#!/usr/bin/env bash
# check-sdk.sh [BUILD_DIR]: checks that SDK.md is true.
#
# Installs BUILD_DIR (default: build) into a fresh temporary prefix, takes
# the template plugin out of SDK.md (between the template:begin/end marker
# lines), builds it out of tree with the documented pkg-config line against
# the installed gspec.pc, and runs the INSTALLED gspec on it: `methods`,
# `methods --describe ID` and `analyze` on a 1024-channel text spectrum with
# configs/libraries/embedded.yaml.  Prints PASS/FAIL lines; exits non-zero
# on the first failure; exits 0 with a SKIP line when pkg-config or cc is
# missing.  The temporary folder is removed on exit.
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-build}
cmake_cmd=${CMAKE:-cmake}

pass () { echo "PASS: $*"; }
fail ()
{
  echo "FAIL: $*"
  exit 1
}

for tool in pkg-config cc; do
  if ! command -v "$tool" > /dev/null 2>&1; then
    echo "SKIP: sdk_template: '$tool' is not installed"
    exit 0
  fi
done
[ -d "$build" ] || fail "build folder '$build' does not exist; build first"
build=$(cd "$build" && pwd)
[ -x "$build/gspec" ] || fail "'$build/gspec' is missing; build first"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gspec-sdk.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tmp=$(cd "$tmp" && pwd -P) # the loader reports real paths
prefix=$tmp/prefix
unset LD_LIBRARY_PATH # the installed tree must find its own libraries

# 1. Install into a prefix the build was not configured for.
if ! "$cmake_cmd" --install "$build" --prefix "$prefix" > "$tmp/install.log" 2>&1; then
  cat "$tmp/install.log"
  fail "cmake --install $build --prefix $prefix"
fi
gspec=$prefix/bin/gspec
[ -x "$gspec" ] || fail "install has no bin/gspec"
pass "cmake --install into $prefix"

pc=$(find "$prefix" -path '*/pkgconfig/gspec.pc' | head -n 1)
[ -n "$pc" ] || fail "install has no pkgconfig/gspec.pc"
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH
flags=$(pkg-config --cflags --libs gspec) \
  || fail "pkg-config cannot read ${pc#"$prefix"/}"
case "$flags" in
  *"$build"* | *"$src"*)
    fail "gspec.pc points into the build or source tree: $flags" ;;
esac
pass "pkg-config gspec ${pc#"$prefix"/}: $flags"

# 2. The template, exactly as SDK.md shows it.
awk '/^<!-- template:begin example_plugin\.c -->$/ { on = 1; next }
     /^<!-- template:end -->$/ { on = 0 }
     on && !/^```/' "$src/SDK.md" > "$tmp/example_plugin.c"
grep -q 'GS_PLUGIN_DEFINE' "$tmp/example_plugin.c" \
  || fail "no template between the markers in SDK.md"
id=$(sed -n 's/^ *\.id = "\([^"]*\)".*/\1/p' "$tmp/example_plugin.c" | head -n 1)
[ -n "$id" ] || fail "the template has no '.id = \"...\"' line"
pass "template extracted from SDK.md ($(wc -l < "$tmp/example_plugin.c") lines, id $id)"

# 3. Out-of-tree build with the documented line (SDK.md must show it).
# shellcheck disable=SC2016 # the line as SDK.md prints it
line='cc -std=c11 -shared -fPIC -fvisibility=hidden -Wl,--no-undefined $(pkg-config --cflags gspec) example_plugin.c $(pkg-config --libs gspec) -o example_plugin.so'
grep -qF -- "$line" "$src/SDK.md" || fail "SDK.md does not show the build line: $line"
# shellcheck disable=SC2046 # word splitting of pkg-config is the point
(
  cd "$tmp"
  cc -std=c11 -shared -fPIC -fvisibility=hidden -Wl,--no-undefined $(pkg-config --cflags gspec) example_plugin.c $(pkg-config --libs gspec) -o example_plugin.so
) > "$tmp/cc.log" 2>&1 || {
  cat "$tmp/cc.log"
  fail "documented build line"
}
pass "out-of-tree build: $line"
# shellcheck disable=SC2046
(
  cd "$tmp"
  cc -std=c11 -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
    -Wmissing-prototypes -Werror -fsyntax-only $(pkg-config --cflags gspec) \
    example_plugin.c
) > "$tmp/cc.log" 2>&1 || {
  cat "$tmp/cc.log"
  fail "template has warnings under the project's flags"
}
pass "template is warning-free (-Wall -Wextra -Wpedantic -Wshadow -Werror)"
if command -v nm > /dev/null 2>&1; then
  syms=$(nm -D --defined-only "$tmp/example_plugin.so" | awk '{ print $NF }' | tr '\n' ' ')
  [ "$syms" = "gs_plugin_entry " ] \
    || fail "plugin must export only gs_plugin_entry, exports: $syms"
  pass "exports only gs_plugin_entry"
fi

# 4. The installed host: its own libgspec, its own plugins, the template.
if command -v ldd > /dev/null 2>&1; then
  lib=$(ldd "$gspec" | awk '/libgspec\.so/ { print $3 }')
  case "$lib" in
    "$prefix"/*) pass "installed gspec uses $lib" ;;
    *) fail "installed gspec resolves libgspec to '$lib', not under $prefix" ;;
  esac
fi
if ls "$build"/plugins/*.so > /dev/null 2>&1; then
  GSPEC_PLUGIN_PATH='' "$gspec" methods > "$tmp/methods.txt" 2>&1 \
    || fail "installed gspec methods: $(cat "$tmp/methods.txt")"
  first=$(awk 'NR == 2 { print $1 }' "$tmp/methods.txt")
  GSPEC_PLUGIN_PATH='' "$gspec" methods --describe "$first" > "$tmp/describe.txt" 2>&1 \
    || fail "installed gspec finds no installed plugin: $(cat "$tmp/methods.txt")"
  grep -q "plugin: .*$prefix/" "$tmp/describe.txt" \
    || fail "installed gspec loads $first from outside the prefix: $(grep 'plugin:' "$tmp/describe.txt")"
  pass "installed gspec finds its installed plugins ($first)"
fi

export GSPEC_PLUGIN_PATH=$tmp
"$gspec" methods > "$tmp/methods.txt" 2>&1 || {
  cat "$tmp/methods.txt"
  fail "gspec methods"
}
grep -q "^$id " "$tmp/methods.txt" || {
  cat "$tmp/methods.txt"
  fail "gspec methods does not list $id"
}
pass "gspec methods lists $id"

"$gspec" methods --describe "$id" > "$tmp/describe.txt" 2>&1 || {
  cat "$tmp/describe.txt"
  fail "gspec methods --describe $id"
}
grep -q '^parameters:' "$tmp/describe.txt" || fail "--describe printed no parameter table"
pass "gspec methods --describe $id"
sed 's/^/  | /' "$tmp/describe.txt"

# 5. Analyse a 1024-channel spectrum: Cs-137-like line on a falling
# continuum, integer counts, one per line.
awk 'BEGIN { for (i = 0; i < 1024; i++) {
               line = 400 * exp (-((i - 321) / 7) ^ 2 / 2)
               printf "%d\n", 3 + 200 * exp (-i / 300) + line } }' \
  > "$tmp/spectrum.txt"
"$gspec" analyze --method "$id" --library "$src/configs/libraries/embedded.yaml" \
  --input "$tmp/spectrum.txt" --output "$tmp/out.csv" --threads 2 --quiet \
  > "$tmp/analyze.log" 2>&1 || {
  cat "$tmp/analyze.log"
  fail "gspec analyze --method $id"
}
[ -s "$tmp/out.csv" ] || fail "gspec analyze wrote no CSV"
head -n 1 "$tmp/out.csv" | grep -q '^index,' || fail "CSV has no header: $(head -n 1 "$tmp/out.csv")"
grep -q '^0,' "$tmp/out.csv" || fail "CSV has no row for spectrum 0"
nh=$(head -n 1 "$tmp/out.csv" | awk -F, '{ print NF }')
nr=$(grep '^0,' "$tmp/out.csv" | awk -F, '{ print NF }')
[ "$nh" = "$nr" ] || fail "CSV row has $nr fields, header $nh"
pass "gspec analyze --method $id wrote a CSV row ($nr columns)"
sed 's/^/  | /' "$tmp/out.csv"

echo "PASS: sdk_template: all checks"
