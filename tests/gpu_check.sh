#!/usr/bin/env bash
# gpu_check.sh - on a machine with a GPU: build the CUDA backend and every
# tests/test_cuda_* program, run each, print its output and a summary line
#   "gpu_check: N passed, M failed, S skipped (device: NAME)"
# No benchmarks. Exit status 0 only when every program ran on a GPU and passed; 1 when a
# check failed or a program crashed; 2 when no GPU was visible (the programs then print
# SKIPPED and check nothing on the device).
#
#   usage: tests/gpu_check.sh [--no-build] [BIN_DIR]     (BIN_DIR defaults to bin)
# --no-build runs programs built elsewhere (e.g. carried to the GPU machine as bin/ and
# build/release); their shared libraries must be present there: missing ones are listed.
# CUDA_ARCH (e.g. "90" on an H100/H200) shortens the build; the default builds 80 and 90.
set -u
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
build=1
if [ "${1:-}" = "--no-build" ]; then build=0; shift; fi
bin=${1:-bin}

echo "== gpu_check: $(date -u +%FT%TZ) on $(hostname)"
command -v nvidia-smi >/dev/null && nvidia-smi -L
command -v nvcc >/dev/null && nvcc --version | tail -n 1

if [ "$build" = 1 ]; then
  echo "== build (make build $([ -n "${CUDA_ARCH:-}" ] && echo "CUDA_ARCH=\"$CUDA_ARCH\""))"
  log=$(mktemp)
  if ! make -j"$(nproc)" --no-print-directory build ${CUDA_ARCH:+CUDA_ARCH="$CUDA_ARCH"} >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "gpu_check: build failed"
    rm -f "$log"
    exit 1
  fi
  grep -E 'warning:|error:' "$log" | head -n 20
  rm -f "$log"
fi

shopt -s nullglob
progs=("$bin"/tests/test_cuda_*)
if [ ${#progs[@]} -eq 0 ]; then
  echo "gpu_check: no $bin/tests/test_cuda_* programs (built without nvcc?)"
  exit 1
fi

passed=0; failed=0; skipped=0; device=none
for t in "${progs[@]}"; do
  name=$(basename "$t")
  echo "== $name"
  if ldd "$t" 2>/dev/null | grep -q 'not found'; then
    ldd "$t" | grep 'not found'
    echo "FAIL $name: shared libraries missing"
    failed=$((failed + 1)); continue
  fi
  out=$("$t" 2>&1); rc=$?
  echo "$out"
  line=$(grep -E '^[A-Za-z0-9_.-]+: [0-9]+ passed, [0-9]+ failed' <<<"$out" | tail -n 1)
  if [ -z "$line" ]; then
    echo "FAIL $name: crashed or printed no summary (exit status $rc)"
    failed=$((failed + 1)); continue
  fi
  p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")
  f=$(sed -E 's/.*passed, ([0-9]+) failed.*/\1/' <<<"$line")
  [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
  passed=$((passed + p)); failed=$((failed + f))
  grep -q '^SKIPPED' <<<"$out" && skipped=$((skipped + 1))
  d=$(sed -n 's/^device: //p' <<<"$out" | head -n 1)
  [ -n "$d" ] && device=$d
done

echo
echo "gpu_check: $passed passed, $failed failed, $skipped skipped (device: $device)"
[ "$failed" -gt 0 ] && exit 1
[ "$skipped" -gt 0 ] && exit 2
exit 0
