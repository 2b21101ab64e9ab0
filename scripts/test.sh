#!/usr/bin/env bash
# The project's test command (README, CI). On a fresh Debian 12 machine it:
#   1. installs dependencies (apt, the pinned Node SDK);
#   2. configures and builds everything with warnings as errors (preset ci);
#   3. runs every unit and integration test through ctest;
#   4. runs the benchmark smoke (every figure produced; no speed assertion);
#   5. runs the unit tests under ASan+UBSan and TSan (scripts/sanitizers.sh);
#   6. builds the libFuzzer targets, replays the regressions and fuzzes each
#      target briefly (scripts/fuzz.sh, FUZZ_SECONDS per target).
# Any failure makes it exit non-zero. KP_TEST_STAGES selects stages
# ("build unit bench sanitizers fuzz"; default all).
set -euo pipefail
cd "$(dirname "$0")/.."

STAGES=${KP_TEST_STAGES:-"build unit bench sanitizers fuzz"}
has() { [[ " $STAGES " == *" $1 "* ]]; }
stage() { printf '\n=== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

stage "install dependencies"
scripts/install-deps.sh

if has build; then
  stage "configure and build (preset ci)"
  cmake --preset ci >/dev/null
  cmake --build --preset ci
fi

summary=""
if has unit; then
  stage "unit and integration tests"
  log=$(mktemp)
  ctest --preset ci "$@" | tee "$log"
  # "100% tests passed, 0 tests failed out of 639" -> "639 passed, 0 failed"
  summary=$(sed -n 's/.* tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2 \1/p' "$log" |
            awk '{print "ctest: " ($1 - $2) " passed, " $2 " failed"}')
  rm -f "$log"
fi

if has bench; then
  stage "benchmark smoke"
  scripts/bench.sh --smoke --build-dir build --no-build
fi

if has sanitizers; then
  stage "sanitizers"
  # TSan on the modules whose tests run several threads at once.
  TSAN_TESTS=${TSAN_TESTS:-"net_test proxy_test credentials_test sigv4_test"} scripts/sanitizers.sh
fi

if has fuzz; then
  stage "fuzzing"
  FUZZ_SECONDS=${FUZZ_SECONDS:-10} scripts/fuzz.sh
fi

stage "all stages passed"
if [ -n "$summary" ]; then echo "$summary"; fi
