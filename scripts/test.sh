#!/usr/bin/env bash
# The project's test command (README, CI): installs dependencies, configures,
# builds with warnings as errors, and runs every test through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

cmake --preset ci >/dev/null
cmake --build --preset ci
ctest --preset ci "$@"
