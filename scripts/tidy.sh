#!/usr/bin/env bash
# clang-tidy, as .clang-tidy configures it, over every src/**/*.cc (or the
# files given as arguments), in parallel, with the compile commands of the
# release build (configured here if missing). Lock annotations are checked
# on the way (clang's -Wthread-safety). Prints each finding once and exits 1
# if there is any: `make check` requires zero.
#
#   scripts/tidy.sh                 every source file
#   scripts/tidy.sh src/net/*.cc    some
#   JOBS=4 BUILD_DIR=build-debug scripts/tidy.sh
set -uo pipefail
cd "$(dirname "$0")/.."

build_dir="${BUILD_DIR:-build}"
jobs="${JOBS:-$(nproc)}"
tidy="${CLANG_TIDY:-clang-tidy}"

if ! command -v "$tidy" >/dev/null; then
  echo "tidy: $tidy not found (scripts/install-deps.sh installs clang-tidy)" >&2
  exit 2
fi
if [ ! -f "$build_dir/compile_commands.json" ]; then
  cmake --preset release >/dev/null || exit 2
fi

if [ $# -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <(git ls-files 'src/*.cc')
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# -Wthread-safety: the GUARDED_BY/REQUIRES annotations
#   (include/henbtrust/core/thread_annotations.h).
# BOOST_ASIO_HAS_CO_AWAIT: Boost 1.74 looks for coroutines under clang only in
#   libc++'s <experimental/coroutine>; libstdc++ 12 has <coroutine>, which
#   GCC builds use.
# -Wno-unknown-warning-option: the compile commands are GCC's.
export tidy out build_dir
printf '%s\n' "${files[@]}" | xargs -P "$jobs" -I{} sh -c '
  f="{}"
  "$tidy" --quiet -p "$build_dir" \
    --extra-arg=-Wthread-safety --extra-arg=-DBOOST_ASIO_HAS_CO_AWAIT=1 \
    --extra-arg=-Wno-unknown-warning-option "$f" \
    >"$out/$(echo "$f" | tr / _).log" 2>&1
  echo $? >"$out/$(echo "$f" | tr / _).rc"'

# A finding in a header shows once for every file that includes it.
findings=$(cat "$out"/*.log | grep -E '^[^ ].*:[0-9]+:[0-9]+: (warning|error):' | sort -u)
failed=$(grep -L '^0$' "$out"/*.rc | sed "s|$out/||; s|\.rc$||")

status=0
if [ -n "$findings" ]; then
  echo "$findings"
  echo "tidy: $(echo "$findings" | wc -l) finding(s); fix them, or add NOLINT(check) with the reason"
  status=1
elif [ -n "$failed" ]; then
  # clang-tidy failed without a finding we could parse: show everything.
  echo "tidy: clang-tidy failed on:"
  for f in $failed; do
    echo "== $f"
    cat "$out/$f.log"
  done
  status=1
fi
[ $status -eq 0 ] && echo "tidy: ok (${#files[@]} files)"
exit $status
