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
    f['t'] = np.arange(24.0).reshape(2, 3, 4)   # t[i, j, l] = 12 i + 4 j + l
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
out=$("$exp" x.h5 /t --fix 1:2); [ "$out" = $'8 9 10 11\n20 21 22 23' ]
check "--fix 1:2 of [2, 3, 4] gives t[:, 2, :]" $? "$out"
out=$("$exp" x.h5 /t --fix 0:1 --fix 2:3); [ "$out" = $'15\n19\n23' ]
check "--fix twice leaves t[1, :, 3]" $? "$out"
out=$("$exp" x.h5 /t --fix 0:1 --transpose); [ "$out" = $'12 16 20\n13 17 21\n14 18 22\n15 19 23' ]
check "--fix with --transpose" $? "$out"
for bad in "--fix 1:3" "--fix 3:0" "--fix x" "--fix 1:0 --fix 1:1"; do
  err=$("$exp" x.h5 /t $bad 2>&1 >/dev/null); rc=$?
  [ $rc -eq 2 ] && [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] && [[ "$err" == *"fix"* ]]
  check "bad $bad: one line, exit 2" $? "rc $rc: $err"
done
err=$("$exp" x.h5 /t 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ]
check "rank 3 without --fix refused" $? "rc $rc: $err"
echo "cli_h5export: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
