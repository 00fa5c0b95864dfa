#!/usr/bin/env bash
# cli_attn.sh - runs tests/cli_attn.py (bin/attn end to end) with Debian's python3,
# which has numpy and h5py (make deps installs them).
here=$(cd "$(dirname "$0")" && pwd)
exec /usr/bin/python3 "$here/cli_attn.py"
