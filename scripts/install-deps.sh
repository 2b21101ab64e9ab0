#!/usr/bin/env bash
# Installs exactly what this project needs on a Debian 12 machine.
# Idempotent and fast when everything is already there (one dpkg query).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  # build
  cmake ninja-build g++ ccache pkg-config
  # libraries (Boost 1.81 only: never mix with the unversioned 1.74 packages)
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libspdlog-dev libfmt-dev libcli11-dev libyaml-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # test peers and tools
  openssl tinyproxy nginx-light wrk
  # fuzzing and sanitizers
  clang-19 libclang-rt-19-dev lld-19
  # real SDK clients for the example apps (Debian's Go and Ruby AWS SDKs)
  ruby ruby-aws-sdk-kms golang-go golang-github-aws-aws-sdk-go-v2-dev
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Python clients and peers: boto3, the aws CLI and moto are preinstalled on
# these machines (Debian's python3-boto3 is too old to know Recipient).
python3 - <<'PY'
import boto3, botocore, cryptography, moto  # noqa: F401
PY
command -v moto_server >/dev/null
command -v aws >/dev/null

# Node SDK for the examples, pinned by examples/node/package-lock.json (Node 20
# and npm are preinstalled on these machines).
command -v node >/dev/null && command -v npm >/dev/null
if [ "$(node -p 'require("./examples/node/node_modules/@aws-sdk/client-kms/package.json").version' 2>/dev/null)" != "3.1164.0" ]; then
  # npm ci has failed once here with a transient ENOENT inside node_modules:
  # retry a couple of times before giving up.
  for attempt in 1 2 3; do
    if npm ci --prefix examples/node --no-audit --no-fund --loglevel=error >/dev/null; then
      break
    fi
    [ "$attempt" = 3 ] && { echo "install-deps: npm ci failed" >&2; exit 1; }
    echo "install-deps: npm ci failed (attempt $attempt), retrying" >&2
    rm -rf examples/node/node_modules
    sleep 2
  done
fi
echo "install-deps: ok"
