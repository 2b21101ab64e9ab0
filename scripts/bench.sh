#!/usr/bin/env bash
# Benchmarks of kms-proxy on loopback (docs/performance.md).
#
#   scripts/bench.sh                 # build (Release, build-bench/) and run every figure (~2-3 min)
#   scripts/bench.sh --smoke         # every figure briefly (CI); exits 1 only if a figure is missing
#   scripts/bench.sh --profile       # also perf + callgrind profiles of the proxy
#   scripts/bench.sh --only c,d      # some figures only
#
# Options for this wrapper (the rest go to bench/bench.py; see --help there):
#   --build-dir DIR   use an existing build tree (default: build-bench, configured Release)
#   --no-build        do not configure/build, use the binaries as they are
# Results: bench/results/latest.json (+ latest.png when gnuplot is installed);
# --smoke writes bench/results/smoke.json instead, so it never replaces the reference run.
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir="build-bench"
do_build=1
pass=()
while (($#)); do
  case "$1" in
    --build-dir) build_dir="$2"; shift 2 ;;
    --build-dir=*) build_dir="${1#*=}"; shift ;;
    --no-build) do_build=0; shift ;;
    *) pass+=("$1"); shift ;;
  esac
done

for tool in wrk nginx openssl python3; do
  command -v "$tool" >/dev/null || { echo "bench.sh: $tool not found (scripts/install-deps.sh)" >&2; exit 2; }
done

if ((do_build)); then
  if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
    launcher=()
    command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
    cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKP_BUILD_BENCH=ON \
      -DKP_BUILD_TESTS=OFF "${launcher[@]}" >/dev/null
  fi
  cmake --build "$build_dir" -j"$(nproc)" --target kms-proxy kp_kms_stub kp_rsa_oaep_time kp_micro_bench
fi

exec python3 bench/bench.py --build-dir "$build_dir" "${pass[@]}"
