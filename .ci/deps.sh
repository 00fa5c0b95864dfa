#!/usr/bin/env bash
# deps.sh - install the Debian packages the suite needs (used by `make deps`).
#   --if-missing   stay silent when everything is present (used before build/test)
set -euo pipefail

PACKAGES=(
  gcc make pkg-config git       # toolchain
  libopenblas-dev liblapacke-dev # BLAS (cblas) and LAPACKE
  libhdf5-dev hdf5-tools         # HDF5 (serial) with h5dump/h5ls
  libjansson-dev                 # JSON (config.json, safetensors headers)
  gnuplot-nox                    # figures
  python3 python3-numpy python3-h5py # test references and benchmark baselines
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  [ "${1:-}" = "--if-missing" ] || echo "deps: all ${#PACKAGES[@]} packages present: ${PACKAGES[*]}"
  exit 0
fi

echo "deps: installing ${missing[*]}"
SUDO=
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "deps: error: not root and no sudo; run as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has empty package lists; refresh them when the first try fails.
if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "deps: installed ${missing[*]}"
