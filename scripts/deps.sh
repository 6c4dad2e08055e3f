#!/usr/bin/env bash
# Installs the Debian packages gspec needs, only those that are missing.
# Needs root (or sudo) when something is missing; safe to run repeatedly.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libyaml-dev libgsl-dev
      libopenblas-dev libcunit1-dev libxml2-dev)
# Optional: gnuplot for report plots, python3-numpy/scipy for bench/.
if [ "${GSPEC_OPTIONAL_DEPS:-1}" = 1 ]; then
  pkgs+=(gnuplot-nox python3-numpy python3-scipy)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "gspec: installing missing Debian packages: ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || {
    echo "gspec: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
