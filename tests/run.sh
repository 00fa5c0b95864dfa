#!/usr/bin/env bash
# run.sh - runs every test program and every CLI test script, then prints the total
# as "N passed, M failed" (exit status 1 when anything failed or a program crashed).
#   usage: tests/run.sh BIN_DIR cuda|nocuda
set -u
bin=$(cd "${1:?usage: tests/run.sh BIN_DIR cuda|nocuda}" && pwd)
cuda=${2:-nocuda}
here=$(cd "$(dirname "$0")" && pwd)
export LF_BIN=$bin
# Tests find committed fixtures (tests/data) through LF_REPO.
export LF_REPO=$(cd "$here/.." && pwd)
# Sanitizer runs: leaks inside OpenBLAS/HDF5/libgomp initialisation are not ours.
export LSAN_OPTIONS="suppressions=$here/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# CUDA needs the shadow gap unprotected under ASan (harmless without a GPU).
export ASAN_OPTIONS="protect_shadow_gap=0:detect_leaks=1"

passed=0; failed=0; skipped=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

tally() { # name, output file, exit status
  local name=$1 out=$2 rc=$3 line p f
  line=$(grep -E '^[A-Za-z0-9_.-]+: [0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
  if [ -z "$line" ]; then
    echo "FAIL $name: crashed or printed no summary (exit status $rc)"
    failed=$((failed + 1)); return
  fi
  p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")
  f=$(sed -E 's/.*passed, ([0-9]+) failed.*/\1/' <<<"$line")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "FAIL $name: exit status $rc after its summary"
    f=1
  fi
  passed=$((passed + p)); failed=$((failed + f))
}

for t in "$bin"/tests/test_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  echo "== $name"
  mkdir -p "$tmp/$name"
  (cd "$tmp/$name" && "$t") >"$tmp/$name.out" 2>&1; rc=$?
  cat "$tmp/$name.out"
  tally "$name" "$tmp/$name.out" "$rc"
  grep -q '^SKIPPED' "$tmp/$name.out" && skipped=$((skipped + 1))
done

if [ "$cuda" != cuda ]; then
  echo "SKIPPED test_cuda: built without nvcc (NO_CUDA=1 or no CUDA toolkit)"
  skipped=$((skipped + 1))
fi

for s in "$here"/cli_*.sh; do
  [ -f "$s" ] || continue
  name=$(basename "$s" .sh)
  echo "== $name"
  mkdir -p "$tmp/$name"
  (cd "$tmp/$name" && bash "$s") >"$tmp/$name.out" 2>&1; rc=$?
  cat "$tmp/$name.out"
  tally "$name" "$tmp/$name.out" "$rc"
done

echo
if [ "$skipped" -gt 0 ]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
