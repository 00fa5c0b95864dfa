#!/usr/bin/env bash
# cli_pretrain.sh - runs tests/cli_pretrain.py (bin/pretrain end to end) with Debian's
# python3, which has numpy and h5py (make deps installs them).
here=$(cd "$(dirname "$0")" && pwd)
exec /usr/bin/python3 "$here/cli_pretrain.py"
