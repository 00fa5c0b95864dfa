#!/usr/bin/env bash
# cli_h5export.sh - bin/h5export turns datasets into gnuplot text exactly, and rejects
# bad arguments with one line and exit status 2.
set -u
exp="$LF_BIN/h5export"
passed=0; failed=0
check() { # name, condition result (0 = ok), detail
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "PASS $1"; else failed=$((failed + 1)); echo "FAIL $1: $3"; fi
}
/usr/bin/python3 -c "
import h5py, numpy as np
with h5py.File('x.h5', 'w') as f:
    f['m'] = np.array([[0.1, 1e-300, -2.5], [3.0, 4.0, 0.7]])
    f['v'] = np.array([1.0, 0.5], dtype=np.float32)
    f['c'] = np.arange(12.0).reshape(2, 3, 2)
"
out=$("$exp" x.h5 /m); [ "$out" = $'0.10000000000000001 1e-300 -2.5\n3 4 0.69999999999999996' ]
check "matrix rows, 17 digits" $? "$out"
out=$("$exp" x.h5 /m --transpose --index-column); [ "$out" = $'1 0.10000000000000001 3\n2 1e-300 4\n3 -2.5 0.69999999999999996' ]
check "transpose with index column" $? "$out"
"$exp" x.h5 /v --out v.dat && [ "$(cat v.dat)" = $'1\n0.5' ] && [ ! -e v.dat.tmp ]
check "--out writes the file" $? "$(cat v.dat 2>&1)"
err=$("$exp" x.h5 /none 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] && [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] && [[ "$err" == *"/none"* ]]
check "missing dataset: one line, exit 2" $? "rc $rc: $err"
err=$("$exp" x.h5 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] && [[ "$err" == *"expected FILE.h5 and DATASET"* ]]
check "missing argument" $? "rc $rc: $err"
out=$("$exp" x.h5 /c --slice 1); [ "$out" = $'6 7\n8 9\n10 11' ]
check "rank 3: --slice" $? "$out"
err=$("$exp" x.h5 /c 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] && [[ "$err" == *"--slice"* ]]
check "rank 3 without --slice" $? "rc $rc: $err"
err=$("$exp" x.h5 /c --slice 2 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] && [[ "$err" == *"2 slices"* ]]
check "--slice out of range" $? "rc $rc: $err"
echo "cli_h5export: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
