#!/usr/bin/env bash
# cli_bench.sh - runs tests/cli_bench.py (bin/bench end to end) with Debian's python3,
# which has numpy and h5py (make deps installs them).
here=$(cd "$(dirname "$0")" && pwd)
exec /usr/bin/python3 "$here/cli_bench.py"
