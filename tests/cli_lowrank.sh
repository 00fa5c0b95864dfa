#!/usr/bin/env bash
# cli_lowrank.sh - runs tests/cli_lowrank.py (bin/lowrank end to end) with Debian's
# python3, which has numpy and h5py (make deps installs them).
here=$(cd "$(dirname "$0")" && pwd)
exec /usr/bin/python3 "$here/cli_lowrank.py"
