#!/usr/bin/env bash
# The checks `make check` runs before building: every C++ file is formatted
# as .clang-format says, nothing in the repository reaches outside it, and
# no JSON or number from outside the process is read with a call that throws.
# Prints each finding and exits 1 if there is any.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0

unformatted=$(git ls-files '*.cc' '*.h' | xargs clang-format --dry-run --Werror 2>&1 |
  grep -o '^[^:]*:[0-9]*:[0-9]*: error' | cut -d: -f1 | sort -u)
if [ -n "$unformatted" ]; then
  echo "lint: not clang-formatted (make format fixes it):"
  echo "$unformatted" | sed 's/^/  /'
  status=1
fi

outside=$(git grep -nI -e '\.\./shared' -- . ':!*.md' ':!scripts/lint.sh')
if [ -n "$outside" ]; then
  echo "lint: these read outside the repository (test data belongs in tests/data):"
  echo "$outside" | sed 's/^/  /'
  status=1
fi

# JSON from outside the process is read only through the codecs
# (net/*_protocol.cc, net/enrollment.cc) and the field readers they are built
# on (core/json_fields.cc): nlohmann's value() and at() throw on a wrong
# type, and std::sto* on a bad number. Tests may use them on their own data.
throwing=$(git grep -nI -E '\.value\("|\.at\("|std::sto(i|l|ll|ul|ull|f|d)\(' -- 'src/*.cc' 'src/*.h' \
  'include/*.h' ':!src/net/*_protocol.cc' ':!src/net/enrollment.cc' ':!src/core/json_fields.cc')
if [ -n "$throwing" ]; then
  echo "lint: a throwing read outside the codecs (use net/*_protocol.h or core/json_fields.h):"
  echo "$throwing" | sed 's/^/  /'
  status=1
fi

[ $status -eq 0 ] && echo "lint: ok"
exit $status
