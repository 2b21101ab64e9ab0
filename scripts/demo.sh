#!/usr/bin/env bash
# End-to-end demo on this machine (no Nitro hardware, no AWS account):
#   1. kms-emulator plays AWS KMS; a key's policy allows Decrypt only to an
#      enclave whose PCR0 (ImageSha384) matches;
#   2. the seed's Python app decrypts a secret through `kms-proxy run` with a
#      simulated NSM measuring that PCR0;
#   3. the same Decrypt sent directly (no attestation) is denied, and so is a
#      proxy simulating a different PCR0;
#   4. `kms-proxy check` says the same before any app runs.
# KP_DEMO_BIN=DIR uses kms-proxy and kms-emulator from DIR instead of installing
# dependencies and building them (the integration test it_demo does this).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if [ -n "${KP_DEMO_BIN:-}" ]; then
  BIN=$KP_DEMO_BIN
else
  scripts/install-deps.sh >/dev/null
  cmake --preset ci >/dev/null
  cmake --build --preset ci --target kms-proxy kms-emulator >/dev/null
  BIN=$ROOT/build/bin
fi

WORK=$(mktemp -d /tmp/kms-proxy-demo.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

PCR0=$(printf 'ab%.0s' $(seq 48))          # the enclave image we "built"
OTHER_PCR0=$(printf 'cd%.0s' $(seq 48))    # some other image
SECRET="the launch codes are 0000"

echo "== 1. development PKI for the simulated NSM"
"$BIN/kms-proxy" sim-pki init "$WORK/pki"

echo "== 2. kms-emulator (trusts the simulated root)"
"$BIN/kms-emulator" serve --listen 127.0.0.1:0 --data-dir "$WORK/kms" \
  --trust-root "$WORK/pki/root.pem" >"$WORK/emulator.out" 2>"$WORK/emulator.log" &
PIDS+=($!)
for _ in $(seq 100); do
  EMU=$(grep -o 'http://127.0.0.1:[0-9]*' "$WORK/emulator.out" 2>/dev/null | head -1 || true)
  [ -n "$EMU" ] && break
  sleep 0.1
done
[ -n "${EMU:-}" ] || { echo "kms-emulator did not start"; cat "$WORK/emulator.log"; exit 1; }
echo "   listening on $EMU"

echo "== 3. create a key that only an enclave with PCR0=${PCR0:0:16}... may use; encrypt a secret"
KEY_OUT=$(python3 scripts/demo/setup_key.py "$EMU" "$PCR0" "$SECRET")
CT=$(sed -n 1p <<<"$KEY_OUT")
KEY_ARN=$(sed -n 2p <<<"$KEY_OUT")
echo "   key: $KEY_ARN"
echo "   ciphertext: ${CT:0:40}..."

# The proxy's own credentials (the emulator does not check them by default);
# the app's credentials are whatever its SDK finds.
export AWS_ACCESS_KEY_ID=AKIADEMOPROXY AWS_SECRET_ACCESS_KEY=demo AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1

echo "== 4. the seed's app, unchanged, under kms-proxy run (simulated attestation)"
DEMO_CIPHERTEXT=$CT "$BIN/kms-proxy" run --listen 127.0.0.1:0 --attestation simulated \
  --sim-pki "$WORK/pki" --pcr "0=$PCR0" --endpoint "us-east-1=$EMU" --log-level warn \
  -- python3 scripts/demo/seed_app.py

echo "== 5. the same Decrypt sent directly to KMS, without attestation"
python3 scripts/demo/direct_decrypt.py "$EMU" "$CT"

echo "== 6. a proxy simulating a different enclave image (PCR0=${OTHER_PCR0:0:16}...)"
if DEMO_CIPHERTEXT=$CT "$BIN/kms-proxy" run --listen 127.0.0.1:0 --attestation simulated \
     --sim-pki "$WORK/pki" --pcr "0=$OTHER_PCR0" --endpoint "us-east-1=$EMU" --log-level error \
     -- python3 scripts/demo/seed_app.py 2>"$WORK/other.err"; then
  echo "UNEXPECTED: a different PCR0 could decrypt"; exit 1
else
  echo "   denied as expected: $(grep -o 'AccessDeniedException[^"]*' "$WORK/other.err" | head -1)"
fi
echo "== 7. the preflight, as run inside an enclave before its app: kms-proxy check, both images"
check_as() {  # kms-proxy check for an enclave image whose PCR0 is $1
  "$BIN/kms-proxy" check --listen 127.0.0.1:0 --attestation simulated --sim-pki "$WORK/pki" \
    --pcr "0=$1" --endpoint "us-east-1=$EMU" --key-id "$KEY_ARN" 2>/dev/null
}
check_as "$PCR0" | sed 's/^/   /'
if check_as "$OTHER_PCR0" >"$WORK/check.out"; then
  echo "UNEXPECTED: check passed for a different PCR0"; exit 1
else
  grep -E '^(FAIL|result)' "$WORK/check.out" | sed 's/^/   /'
fi
echo "== demo complete"
