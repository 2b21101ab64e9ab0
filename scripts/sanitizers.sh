#!/usr/bin/env bash
# Runs the unit tests under sanitizers (g++ 12, CMake presets):
#   asan: preset `asan` (build-asan, ASan + UBSan, -fno-sanitize-recover=all,
#         LeakSanitizer on): every unit test (`ctest -L unit`).
#   tsan: preset `tsan` (build-tsan, ThreadSanitizer): the unit tests of the
#         multi-threaded modules (TSAN_TESTS), built alone.
# Only unit-test binaries and what they link are built (no apps, no
# integration tests). Exits non-zero on any build error, test failure or
# sanitizer report.
#
# Environment:
#   SAN_STAGES  "asan tsan" (default) or one of them
#   SAN_JOBS    build and ctest parallelism (default 2)
#   TSAN_TESTS  unit-test targets to run under TSan (default: net_test
#               proxy_test credentials_test supervisor_test emulator_test
#               sigv4_test, those that exist)
#   SAN_CTEST_ARGS  extra ctest arguments (e.g. "-R HttpServer")
set -euo pipefail
cd "$(dirname "$0")/.."

SAN_STAGES=${SAN_STAGES:-"asan tsan"}
SAN_JOBS=${SAN_JOBS:-2}
TSAN_TESTS=${TSAN_TESTS:-"net_test proxy_test credentials_test supervisor_test emulator_test sigv4_test"}
read -r -a extra_ctest <<<"${SAN_CTEST_ARGS:-}"

# Sanitizer run-time options, also in effect while the build runs the test
# binaries to discover their tests.
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:strict_init_order=1:check_initialization_order=1:detect_invalid_pointer_pairs=0:print_stacktrace=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:history_size=4${TSAN_OPTIONS:+:$TSAN_OPTIONS}"

# The GoogleTest executables the configured tree declares (kp_unit_test ->
# gtest_discover_tests writes one <target>[N]_include.cmake per executable).
unit_test_targets() {
  find "$1/src" -name '*_include.cmake' -printf '%f\n' | sed -E 's/\[[0-9]+\]_include\.cmake$//' | sort -u
}

run_stage() {
  local preset=$1 dir=$2
  shift 2
  local wanted=("$@")
  local t0=$SECONDS
  cmake --preset "$preset" -DKP_WERROR=OFF -DKP_BUILD_BENCH=OFF >/dev/null
  mapfile -t declared < <(unit_test_targets "$dir")
  local targets=()
  if ((${#wanted[@]})); then
    for t in "${wanted[@]}"; do
      if printf '%s\n' "${declared[@]}" | grep -qx "$t"; then
        targets+=("$t")
      fi
    done
  else
    targets=("${declared[@]}")
  fi
  if ((${#targets[@]} == 0)); then
    echo "sanitizers: $preset: no unit tests to run" >&2
    return 1
  fi
  echo "sanitizers: $preset: building ${targets[*]}"
  cmake --build "$dir" -j "$SAN_JOBS" --target "${targets[@]}"
  local tb=$SECONDS
  # Unbuilt test executables only leave unlabelled "<target>_NOT_BUILT"
  # placeholders, which -L unit excludes.
  ctest --test-dir "$dir" -L unit -j "$SAN_JOBS" --output-on-failure --no-tests=error "${extra_ctest[@]}"
  echo "sanitizers: $preset: build $((tb - t0)) s, tests $((SECONDS - tb)) s"
}

start=$SECONDS
for stage in $SAN_STAGES; do
  case $stage in
    asan) run_stage asan build-asan ;;
    tsan)
      read -r -a tsan_list <<<"$TSAN_TESTS"
      run_stage tsan build-tsan "${tsan_list[@]}"
      ;;
    *)
      echo "sanitizers: unknown stage '$stage' (asan, tsan)" >&2
      exit 2
      ;;
  esac
done
echo "sanitizers: all stages passed in $((SECONDS - start)) s"
