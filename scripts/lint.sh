#!/usr/bin/env bash
# The checks `make check` runs before building: every C++ file is formatted
# as .clang-format says, and nothing in the repository reaches outside it.
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

[ $status -eq 0 ] && echo "lint: ok"
exit $status
